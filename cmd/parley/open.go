package main

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/urfave/cli/v2"
)

// browserWait bounds how long `open` waits for xdg-open to hand the link over.
const browserWait = 10 * time.Second

func openCommand() *cli.Command {
	return &cli.Command{
		Name:  "open",
		Usage: "print a one-time login link to the web app of the running node, and open it",
		Description: "The link works once, for 2 minutes, and only on this computer (the node's API\n" +
			"listens on 127.0.0.1). It logs the browser in until the node restarts.",
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

// openBrowser tries xdg-open; the printed link is the fallback, so failure is ignored.
func openBrowser(ctx context.Context, url string) {
	ctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	exec.CommandContext(ctx, "xdg-open", url).Run()
}
