package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/api"
)

func roomCommand() *cli.Command {
	return &cli.Command{
		Name:  "room",
		Usage: "end-to-end encrypted group chat: create, invite, join, leave, remove, ls",
		Description: "Rooms are addressed as '#NAME' elsewhere: parley send '#ops' TEXT, parley history '#ops',\n" +
			"parley chat '#ops'. Owners invite and remove members; removing one rotates the room's key.",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "make a room you own, with a fresh key", ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "announce", Usage: "announcement room: only owners post, everyone else reads"},
					jsonFlag,
				},
				Action: createRoom,
			},
			{Name: "invite", Usage: "hand a room you own to a peer", ArgsUsage: "NAME PEER", Flags: []cli.Flag{jsonFlag}, Action: roomPeerAction("invite")},
			{Name: "remove", Usage: "remove a member and rotate the room's key", ArgsUsage: "NAME PEER", Flags: []cli.Flag{jsonFlag}, Action: roomPeerAction("remove")},
			{Name: "join", Usage: "accept a pending invitation: its ID (any unique prefix) or its room's name, from `parley room ls`", ArgsUsage: "ID|NAME", Flags: []cli.Flag{jsonFlag}, Action: joinRoom},
			{Name: "decline", Usage: "turn down a pending invitation: its ID (any unique prefix) or its room's name", ArgsUsage: "ID|NAME", Flags: []cli.Flag{jsonFlag}, Action: declineRoom},
			{Name: "leave", Usage: "leave a room", ArgsUsage: "NAME", Flags: []cli.Flag{jsonFlag}, Action: leaveRoom},
			{Name: "ls", Aliases: []string{"list"}, Usage: "your rooms and pending invitations", Flags: []cli.Flag{jsonFlag}, Action: listRooms},
		},
	}
}

func createRoom(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("room create needs one name: parley room create [--announce] NAME")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	r, err := cl.CreateRoom(c.Context, c.Args().First(), c.Bool("announce"))
	if err != nil {
		return err
	}
	return printRoom(c, r, "created")
}

func roomPeerAction(action string) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() != 2 {
			return usageError("room %s needs a room and a peer: parley room %s NAME PEER", action, action)
		}
		cl, err := connect(c)
		if err != nil {
			return err
		}
		call := cl.InviteToRoom
		if action == "remove" {
			call = cl.RemoveFromRoom
		}
		r, err := call(c.Context, c.Args().Get(0), c.Args().Get(1))
		if err != nil {
			return err
		}
		verb := map[string]string{"invite": "invited " + c.Args().Get(1) + " to", "remove": "removed " + c.Args().Get(1) + " from"}[action]
		return printRoom(c, r, verb)
	}
}

func joinRoom(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("room join needs the room's ID (see `parley room ls`)")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	r, err := cl.JoinRoom(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	return printRoom(c, r, "joined")
}

func declineRoom(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("room decline needs the room's ID (see `parley room ls`)")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	inv, err := cl.DeclineRoom(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, inv)
	}
	fmt.Fprintf(c.App.Writer, "declined #%s from %s\n", visible(inv.Name), orDefault(inv.FromName, inv.From))
	return nil
}

func leaveRoom(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("room leave needs one room")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	r, err := cl.LeaveRoom(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	return printRoom(c, r, "left")
}

func printRoom(c *cli.Context, r api.Room, verb string) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, r)
	}
	kind := ""
	if r.Announce {
		kind = " (announcement room)"
	}
	fmt.Fprintf(c.App.Writer, "%s #%s%s: %s, key epoch %d, id %s\n", verb, visible(r.Name), kind, plural(len(r.Members), "member"), r.Epoch, r.ID)
	return nil
}

func listRooms(c *cli.Context) error {
	cl, err := connect(c)
	if err != nil {
		return err
	}
	l, err := cl.Rooms(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, l)
	}
	w := c.App.Writer
	if len(l.Rooms) == 0 && len(l.Invites) == 0 {
		fmt.Fprintln(w, "No rooms yet: make one with `parley room create NAME`.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(l.Rooms) > 0 {
		fmt.Fprintln(tw, "ROOM\tROLE\tMEMBERS\tWHO\tID")
	}
	for _, r := range l.Rooms {
		fmt.Fprintf(tw, "#%s\t%s\t%s\t%s\t%s\n", visible(r.Name), roomRole(r), plural(len(r.Members), "member"), memberNames(r), r.ID)
	}
	if len(l.Invites) > 0 {
		if len(l.Rooms) > 0 {
			fmt.Fprintln(tw, "\t\t\t\t")
		}
		fmt.Fprintln(tw, "INVITED TO\tFROM\tMEMBERS\t\tID (accept with `parley room join ID`)")
	}
	for _, inv := range l.Invites {
		fmt.Fprintf(tw, "#%s\t%s\t%s\t\t%s\n", visible(inv.Name), orDefault(inv.FromName, inv.From), plural(inv.Members, "member"), inv.ID)
	}
	return tw.Flush()
}

func roomRole(r api.Room) string {
	switch {
	case r.Owner && r.Announce:
		return "owner, announce"
	case r.Owner:
		return "owner"
	case r.Announce:
		return "announce (read only)"
	}
	return "member"
}

func memberNames(r api.Room) string {
	var names []string
	for _, m := range r.Members {
		names = append(names, orDefault(m.Name, m.PeerID[max(0, len(m.PeerID)-6):])+"("+m.Presence+")")
	}
	return strings.Join(names, ", ")
}
