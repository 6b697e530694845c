package main

import (
	"fmt"
	"io"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/mailbox"
	pnode "github.com/parley-im/parley/node"
)

// mailboxFlags keep mail for others; `up` and `rendezvous serve` take them.
func mailboxFlags() []cli.Flag {
	q := mailbox.DefaultQuotas
	return []cli.Flag{
		&cli.BoolFlag{Name: "mailbox", Usage: "keep sealed mail for peers that are away, in HOME/mailbox (it cannot read it)"},
		&cli.DurationFlag{Name: "mailbox-ttl", Usage: "with --mailbox: how long unfetched mail is kept", Value: mailbox.DefaultTTL},
		&cli.StringFlag{Name: "mailbox-disk", Usage: "with --mailbox: everything it keeps, at most `SIZE`", Value: humanize.IBytes(uint64(q.Total.Bytes))},
		&cli.IntFlag{Name: "mailbox-per-recipient", Usage: "with --mailbox: envelopes kept for one recipient who is a contact, `N` (others: a tenth)", Value: q.RecipientContact.Count},
		&cli.IntFlag{Name: "mailbox-per-stranger", Usage: "with --mailbox: envelopes kept from one depositor who is not a contact, `N`", Value: q.DepositorStranger.Count},
	}
}

// mailboxConfig reads the mailbox flags.
func mailboxConfig(c *cli.Context) (pnode.MailboxConfig, error) {
	mc := pnode.MailboxConfig{Serve: c.Bool("mailbox"), TTL: c.Duration("mailbox-ttl")}
	if mc.TTL <= 0 {
		return mc, usageError("--mailbox-ttl %v: give a positive duration such as 336h (14 days)", mc.TTL)
	}
	disk, err := humanize.ParseBytes(c.String("mailbox-disk"))
	if err != nil || disk == 0 || disk > 1<<50 {
		return mc, usageError("--mailbox-disk %q: give a positive size such as 1GiB", c.String("mailbox-disk"))
	}
	per, stranger := c.Int("mailbox-per-recipient"), c.Int("mailbox-per-stranger")
	if per <= 0 || stranger <= 0 {
		return mc, usageError("--mailbox-per-recipient and --mailbox-per-stranger take positive counts")
	}
	mc.Quotas = mailbox.Quotas{
		Total:             mailbox.Quota{Bytes: int64(disk)},
		RecipientContact:  mailbox.Quota{Count: per},
		RecipientStranger: mailbox.Quota{Count: max(1, per/10)},
		DepositorStranger: mailbox.Quota{Count: stranger},
	}
	return mc, nil
}

func mailboxCommand() *cli.Command {
	status := &cli.Command{
		Name:  "status",
		Usage: "what this node keeps for others (counts and bytes per recipient) and where its own mail is kept",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			cl, err := connect(c)
			if err != nil {
				return err
			}
			st, err := cl.MailboxStatus(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, st)
			}
			printMailboxStatus(c.App.Writer, st)
			return nil
		},
	}
	return &cli.Command{
		Name:            "mailbox",
		Usage:           "sealed mail kept for peers that are away: parley mailbox status",
		Subcommands:     []*cli.Command{status},
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError("unknown command \"mailbox %s\": use `parley mailbox status`", c.Args().First())
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

func printMailboxStatus(w io.Writer, st api.MailboxStatus) {
	if st.Serving {
		m := st.Metrics
		fmt.Fprintf(w, "Keeping for others: %d envelopes, %s (deposited %d, fetched %d, expired %d, refused %d since start)\n",
			m.Held, humanize.IBytes(uint64(m.HeldBytes)), m.Deposited, m.Fetched, m.Expired, m.Refused)
		for _, h := range st.Held {
			who := h.Recipient
			if h.Name != "" {
				who = fmt.Sprintf("%s (%s)", h.Name, h.Recipient)
			}
			fmt.Fprintf(w, "  %-4s %s: %d envelopes, %s\n", h.Kind, who, h.Count, humanize.IBytes(uint64(h.Bytes)))
		}
	} else {
		fmt.Fprintln(w, "Not keeping mail for others (start with `parley up --mailbox` to do so).")
	}
	if len(st.Mine) == 0 {
		fmt.Fprintln(w, "Your mail: no mailbox found yet (one on the LAN is found by itself; or use --mailbox-peer ADDR).")
		return
	}
	fmt.Fprintln(w, "Your mail kept at:")
	for _, m := range st.Mine {
		if m.Error != "" {
			fmt.Fprintf(w, "  %s: not reachable now (%s)\n", m.Mailbox, m.Error)
			continue
		}
		oldest := ""
		if !m.Oldest.IsZero() {
			oldest = ", oldest " + m.Oldest.Local().Format(time.DateTime)
		}
		fmt.Fprintf(w, "  %s: %d envelopes, %s%s\n", m.Mailbox, m.Count, humanize.IBytes(uint64(m.Bytes)), oldest)
	}
}
