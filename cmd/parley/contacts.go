package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/api"
)

func contactsCommand() *cli.Command {
	return &cli.Command{
		Name:  "contacts",
		Usage: "your buddy list: ls, add, rm, block, unblock, verify",
		Subcommands: []*cli.Command{
			{Name: "ls", Aliases: []string{"list"}, Usage: "contacts by group, with presence", Flags: []cli.Flag{jsonFlag}, Action: listContacts},
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
			{Name: "rm", Usage: "remove a contact (a block stays)", ArgsUsage: "PEER", Flags: []cli.Flag{jsonFlag}, Action: removeContact},
			blockCommand("block", "refuse all connections from a peer; it no longer sees your presence", true),
			blockCommand("unblock", "let a blocked peer connect again", false),
			{
				Name: "verify", Usage: "show the safety number to compare with a contact, and mark the contact verified",
				ArgsUsage: "PEER",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "yes", Usage: "the numbers match: mark the contact verified without asking"},
					&cli.BoolFlag{Name: "json", Usage: "print the verification as JSON (marks nothing unless --yes)"},
				},
				Action: verifyContact,
			},
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
	fmt.Fprintln(tw, "NAME\tPRESENCE\tSTATUS\tVERIFIED\tPEER ID")
	group := "\x00"
	for _, ct := range cs {
		if ct.Group != group {
			group = ct.Group
			fmt.Fprintf(tw, "[%s]\t\t\t\t\n", orDefault(group, "no group"))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", contactLabel(ct), contactPresence(ct), orDash(ct.Status), verifiedMark(ct), ct.PeerID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, ct := range cs {
		printWarning(c.App.Writer, contactLabel(ct), ct.PeerID, ct.Warning)
	}
	return nil
}

func verifiedMark(ct api.Contact) string {
	if ct.Verified {
		return "verified"
	}
	return "-"
}

// printWarning prints a warning about a peer (a possible impersonation) under a listing.
func printWarning(w io.Writer, label, peerID, warning string) {
	if warning != "" {
		fmt.Fprintf(w, "WARNING: %s (%s): %s\n", label, peerID, warning)
	}
}

func contactLabel(ct api.Contact) string {
	switch {
	case ct.Nickname != "" && ct.Name != "" && ct.Nickname != ct.Name:
		return fmt.Sprintf("%s (%s)", visible(ct.Nickname), visible(ct.Name))
	case ct.Nickname != "":
		return visible(ct.Nickname)
	}
	return orDash(ct.Name)
}

func contactPresence(ct api.Contact) string {
	if ct.Blocked {
		return "blocked"
	}
	return ct.Presence
}

// orDefault is s made visible (see visible), or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return visible(s)
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
	if c.Bool("json") {
		return printJSON(c.App.Writer, struct {
			Removed string `json:"removed"`
		}{c.Args().First()})
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

func verifyContact(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("contacts verify needs one peer: parley contacts verify [--yes] [--json] PEER")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	who := c.Args().First()
	v, err := cl.Verification(c.Context, who)
	if err != nil {
		return err
	}
	if c.Bool("json") && !c.Bool("yes") {
		return printJSON(c.App.Writer, v)
	}
	if !c.Bool("json") {
		printVerification(c.App.Writer, v)
	}
	if v.Verified && !c.Bool("json") {
		fmt.Fprintln(c.App.Writer, "Already verified.")
		return nil
	}
	if !c.Bool("yes") && !confirm(c, "Do the numbers match? [y/N] ") {
		fmt.Fprintln(c.App.Writer, "Not marked verified. Once you have compared the numbers: parley contacts verify --yes "+who)
		return nil
	}
	if v, err = cl.Verify(c.Context, v.PeerID); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, v)
	}
	fmt.Fprintf(c.App.Writer, "%s is now verified.\n", orDefault(v.Name, v.PeerID))
	return nil
}

// printVerification shows the safety number in three rows of four groups, as both
// people read it out to each other.
func printVerification(w io.Writer, v api.Verification) {
	fmt.Fprintf(w, "Safety number with %s (%s):\n\n", orDefault(v.Name, "this peer"), v.PeerID)
	groups := strings.Fields(v.SafetyNumber)
	for i := 0; i < len(groups); i += 4 {
		fmt.Fprintf(w, "    %s\n", strings.Join(groups[i:min(i+4, len(groups))], " "))
	}
	fmt.Fprintf(w, "\nYour fingerprint:  %s\nTheir fingerprint: %s\n\n", v.Ours, v.Fingerprint)
	fmt.Fprintln(w, "Compare the number with them in person or on a call: they see the same one with `parley contacts verify` on their side.")
}

// confirm asks a yes/no question on the terminal (or on an injected reader, in tests).
// Piped input that is not a terminal answers no: marking needs a person or --yes.
func confirm(c *cli.Context, question string) bool {
	if f, ok := c.App.Reader.(*os.File); ok && !isatty.IsTerminal(f.Fd()) {
		return false
	}
	fmt.Fprint(c.App.Writer, question)
	line, _ := bufio.NewReader(c.App.Reader).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}
