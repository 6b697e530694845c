package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
)

// browserWait bounds how long `open` waits for the browser starter (xdg-open, open,
// rundll32) to hand the link over.
const browserWait = 10 * time.Second

func openCommand() *cli.Command {
	return &cli.Command{
		Name:  "open",
		Usage: "print a one-time login link to the web app of the running node, and open it",
		Description: "The link works once, for 2 minutes, and only on this computer (the node's API\n" +
			"listens on 127.0.0.1). It logs that browser tab in until it signs out, 12 hours pass\n" +
			"without use, 7 days pass, the node restarts, or `parley web logout` ends every session.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-browser", Usage: "only print the link; do not start a browser"},
			&cli.BoolFlag{Name: "json", Usage: "print the link as JSON: {\"url\", \"expires_at\"}"},
		},
		Action: func(c *cli.Context) error {
			cl, err := connect(c)
			if err != nil {
				return err
			}
			link, err := cl.LoginLink(c.Context)
			if err != nil {
				return fmt.Errorf("ask the node for a login link: %w", err)
			}
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, link); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(c.App.Writer, link.URL)
			}
			if !c.Bool("no-browser") {
				openBrowser(c.Context, link.URL)
			}
			return nil
		},
	}
}

// webCommand is `parley web logout`: the user's way to end every browser's login.
func webCommand() *cli.Command {
	logout := &cli.Command{
		Name:  "logout",
		Usage: "end every web app session of the running node, and the login links not used yet",
		Flags: []cli.Flag{jsonFlag},
		Description: "Every browser tab logged in with `parley open` is signed out at once (its page\n" +
			"says so); run `parley open` again to log one back in.",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError("web logout takes no arguments, got %q", c.Args().First())
			}
			cl, err := connect(c)
			if err != nil {
				return err
			}
			n, err := cl.EndWebSessions(c.Context)
			if err != nil {
				return fmt.Errorf("end the web sessions: %w", err)
			}
			if c.Bool("json") {
				return json.NewEncoder(c.App.Writer).Encode(struct {
					Ended int `json:"ended"`
				}{n})
			}
			if n == 1 {
				fmt.Fprintln(c.App.Writer, "ended 1 web session")
			} else {
				fmt.Fprintf(c.App.Writer, "ended %d web sessions\n", n)
			}
			return nil
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &exitError{code: 2, err: fmt.Errorf("%w (see `parley web logout --help`)", err)}
		},
	}
	return &cli.Command{
		Name:            "web",
		Usage:           "the web app's sessions: parley web logout (`parley open` logs a browser in)",
		Subcommands:     []*cli.Command{logout},
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError("unknown command \"web %s\": use `parley web logout`", c.Args().First())
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}
