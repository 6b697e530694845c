package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
)

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// run executes the CLI with injected streams and returns the process exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, safeWriter{stdout}, safeWriter{stderr})
	if n := len(args); n > 0 && args[n-1] == bashCompletionFlag {
		complete(ctx, app, args[1:n-1], os.Getenv(completeEnv), safeWriter{stdout})
		return 0 // a TAB runs no command and prints no error
	}
	parsed, err := normalizeArgs(app, args)
	asJSON := parsed.json
	if err == nil {
		err = app.RunContext(ctx, parsed.args)
	} else {
		asJSON = mentionsJSON(args)
	}
	if err == nil {
		return 0
	}
	reportError(safeWriter{stderr}, err, asJSON)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// Codes of the JSON errors the CLI prints itself; the node's refusals keep the API's
// codes (api.CodeUnknownPeer, api.CodeBlocked, ...).
const (
	codeUsage       = "usage"       // a wrong command line (exit 2)
	codeNotRunning  = "not_running" // no node runs for the home
	codeInterrupted = "interrupted"
	codeError       = "error" // anything else
)

// reportError prints err on w: "parley: ..." or, with --json, one JSON object
// {"error": "...", "code": "..."} on one line.
func reportError(w io.Writer, err error, asJSON bool) {
	if !asJSON {
		fmt.Fprintf(w, "parley: %v\n", err)
		return
	}
	json.NewEncoder(w).Encode(api.Error{Error: err.Error(), Code: errorCode(err)})
}

func errorCode(err error) string {
	var ee *exitError
	var ae *client.APIError
	switch {
	case errors.As(err, &ee) && ee.code == 2:
		return codeUsage
	case errors.As(err, &ee) && ee.code == 130, errors.Is(err, context.Canceled):
		return codeInterrupted
	case errors.Is(err, client.ErrNotRunning):
		return codeNotRunning
	case errors.As(err, &ae) && ae.Code != "":
		return ae.Code
	}
	return codeError
}

// mentionsJSON reports whether a command line that could not be read asks for --json
// before any `--`, so even its usage error comes as JSON.
func mentionsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "-json", "--json=true", "-json=true":
			return true
		}
	}
	return false
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "parley",
		Usage:                "a messenger for people who share a network but not a server",
		Version:              versionString(),
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "home",
				Usage:   "the node's home directory (identity, archive, API token)",
				EnvVars: []string{"PARLEY_HOME"},
				Value:   defaultHome(),
			},
		},
		Commands: []*cli.Command{
			initCommand(), upCommand(), idCommand(), peersCommand(), sendCommand(),
			historyCommand(), chatCommand(), sendFileCommand(), transfersCommand(), statusCommand(), contactsCommand(), roomCommand(), completionCommand(),
			rendezvousCommand(), mailboxCommand(), natCommand(), networkKeyCommand(), openCommand(), webCommand(), autostartCommand(),
		},
		// Without an Action, urfave/cli answers an unknown command with "No help topic
		// for 'x'" and exit status 1.
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError("unknown command %q (see `parley --help`)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run prints errors and picks the status
		OnUsageError:   onUsageError,
	}
	// urfave/cli does not pass the app's OnUsageError down: without this a command's
	// bad flag exits 1 and dumps the command's help on stdout.
	setUsageErrors(app.Commands)
	addExamples(app.Commands, "")
	return app
}

// onUsageError reports a flag the command line got wrong with exit status 2 and says
// where to read about it.
func onUsageError(c *cli.Context, err error, isSubcommand bool) error {
	help := "parley --help"
	if isSubcommand {
		help = c.Command.HelpName + " --help"
	}
	return &exitError{code: 2, err: fmt.Errorf("%w (see `%s`)", err, help)}
}

// defaultHome is the OS config directory + /parley.
func defaultHome() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ".parley"
	}
	return filepath.Join(dir, "parley")
}

func homeOf(c *cli.Context) string {
	home, err := filepath.Abs(c.String("home"))
	if err != nil {
		return c.String("home")
	}
	return home
}

// connect returns a client of the node running for the command's home.
func connect(c *cli.Context) (*client.Client, error) {
	return client.New(homeOf(c))
}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print one JSON document instead of text"}

// usageError reports a wrong command line with exit status 2.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}
