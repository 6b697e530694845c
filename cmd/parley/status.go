package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/api"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show or set your presence (online, away, busy, invisible) and status text",
		ArgsUsage: "[online|away|busy|invisible [TEXT...]]",
		Description: "invisible: others see you offline, and you still receive messages.\n" +
			"Without arguments, prints what others see.",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			cl, err := connect(c)
			if err != nil {
				return err
			}
			var p api.Presence
			if c.NArg() == 0 {
				p, err = cl.Presence(c.Context)
			} else {
				p, err = cl.SetPresence(c.Context, c.Args().First(), strings.Join(c.Args().Tail(), " "))
			}
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, p)
			}
			fmt.Fprintln(c.App.Writer, formatPresence(p))
			return nil
		},
	}
}

func formatPresence(p api.Presence) string {
	s := p.Presence
	if p.Auto {
		s += " (idle)"
	}
	if p.Status != "" {
		s += ": " + visible(p.Status)
	}
	return s
}
