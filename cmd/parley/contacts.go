package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/api"
)

func contactsCommand() *cli.Command {
	return &cli.Command{
		Name:  "contacts",
		Usage: "your buddy list: ls, add, rm, block, unblock",
		Subcommands: []*cli.Command{
			{Name: "ls", Usage: "contacts by group, with presence", Flags: []cli.Flag{jsonFlag}, Action: listContacts},
			{
				Name: "add", Usage: "add a peer (ID or the name of a peer seen), or change its nickname and group",
				ArgsUsage: "PEER",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "your nickname for them"},
					&cli.StringFlag{Name: "group", Usage: "a group of your own, e.g. work or family"},
					jsonFlag,
				},
				Action: addContact,
			},
			{Name: "rm", Usage: "remove a contact (a block stays)", ArgsUsage: "PEER", Action: removeContact},
			blockCommand("block", "refuse all connections from a peer; it no longer sees your presence", true),
			blockCommand("unblock", "let a blocked peer connect again", false),
		},
	}
}

func listContacts(c *cli.Context) error {
	cl, err := connect(c)
	if err != nil {
		return err
	}
	cs, err := cl.Contacts(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, api.ContactList{Contacts: nonNil(cs)})
	}
	if len(cs) == 0 {
		fmt.Fprintln(c.App.Writer, "No contacts yet: add one with `parley contacts add NAME` (see `parley peers`).")
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	group := "\x00"
	for _, ct := range cs {
		if ct.Group != group {
			group = ct.Group
			fmt.Fprintf(tw, "[%s]\t\t\t\n", orDefault(group, "no group"))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", contactLabel(ct), contactPresence(ct), orDash(ct.Status), ct.PeerID)
	}
	return tw.Flush()
}

func contactLabel(ct api.Contact) string {
	switch {
	case ct.Nickname != "" && ct.Name != "" && ct.Nickname != ct.Name:
		return fmt.Sprintf("%s (%s)", ct.Nickname, ct.Name)
	case ct.Nickname != "":
		return ct.Nickname
	}
	return orDash(ct.Name)
}

func contactPresence(ct api.Contact) string {
	if ct.Blocked {
		return "blocked"
	}
	return ct.Presence
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func addContact(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("contacts add needs one peer: parley contacts add [--name N] [--group G] PEER")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	ct, err := cl.AddContact(c.Context, api.ContactRequest{Peer: c.Args().First(), Nickname: c.String("name"), Group: c.String("group")})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, ct)
	}
	fmt.Fprintf(c.App.Writer, "added %s (%s) to %s\n", contactLabel(ct), ct.PeerID, orDefault(ct.Group, "your contacts"))
	return nil
}

func removeContact(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("contacts rm needs one peer")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	if err := cl.RemoveContact(c.Context, c.Args().First()); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "removed %s\n", c.Args().First())
	return nil
}

func blockCommand(name, usage string, blocked bool) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "PEER", Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("contacts %s needs one peer", name)
			}
			cl, err := connect(c)
			if err != nil {
				return err
			}
			ct, err := cl.SetBlocked(c.Context, c.Args().First(), blocked)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, ct)
			}
			fmt.Fprintf(c.App.Writer, "%sed %s\n", name, ct.PeerID)
			return nil
		},
	}
}
