package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// leafCommand is a command that runs (has no subcommands), with its path from the app.
type leafCommand struct {
	path []string
	cmd  *cli.Command
}

// leafCommands walks the app's command tree, so a new command is covered by the tests
// that range over it without being listed anywhere.
func leafCommands(cmds []*cli.Command, parent []string) []leafCommand {
	var out []leafCommand
	for _, c := range cmds {
		path := append(slices.Clone(parent), c.Name)
		if len(c.Subcommands) > 0 {
			out = append(out, leafCommands(c.Subcommands, path)...)
			if c.Action == nil {
				continue
			}
		}
		out = append(out, leafCommand{path: path, cmd: c})
	}
	return out
}

func testApp() *cli.App { return newApp(strings.NewReader(""), io.Discard, io.Discard) }

// flagWords is how a user types f: the flag, and a value if it takes one.
func flagWords(f cli.Flag) []string {
	name := f.Names()[0]
	if v, ok := f.(interface{ TakesValue() bool }); ok && !v.TakesValue() {
		return []string{"--" + name}
	}
	return []string{"--" + name, "-v"} // a value that looks like a flag is still the value
}

// TestFlagsGoAnywhere: for every command and every one of its flags, the flag after an
// argument reads as the flag, and the argument stays an argument; --home goes anywhere;
// `--` ends flags; `-` is an argument; an unknown flag-like word is a usage error.
func TestFlagsGoAnywhere(t *testing.T) {
	leaves := leafCommands(testApp().Commands, nil)
	if len(leaves) < 20 {
		t.Fatalf("found only %d commands", len(leaves))
	}
	for _, leaf := range leaves {
		t.Run(strings.Join(leaf.path, " "), func(t *testing.T) {
			cmdline := func(words ...string) []string {
				return append(append([]string{"parley"}, leaf.path...), words...)
			}
			want := func(words ...string) []string {
				return append(append([]string{"parley"}, leaf.path...), words...)
			}
			if len(leaf.cmd.Subcommands) > 0 { // a command of commands (transfers): no arguments of its own
				for _, f := range append(slices.Clone(leaf.cmd.Flags), cli.HelpFlag) {
					checkNormalized(t, cmdline(flagWords(f)...), want(flagWords(f)...))
				}
				checkNormalized(t, cmdline("--home", "/h"), append([]string{"parley", "--home", "/h"}, leaf.path...))
				if _, err := normalizeArgs(testApp(), cmdline("no-such-command")); err == nil || !strings.Contains(err.Error(), "unknown command") {
					t.Errorf("an unknown subcommand: err = %v", err)
				}
				return
			}
			for _, f := range append(slices.Clone(leaf.cmd.Flags), cli.HelpFlag) {
				fw := flagWords(f)
				checkNormalized(t, cmdline(append([]string{"ARG"}, fw...)...), want(append(fw, "--", "ARG")...))
				checkNormalized(t, cmdline(append(fw, "ARG")...), want(append(fw, "--", "ARG")...))
				checkNormalized(t, cmdline(append([]string{"A"}, append(fw, "B")...)...), want(append(fw, "--", "A", "B")...))
			}
			home := append([]string{"parley", "--home", "/h"}, leaf.path...)
			checkNormalized(t, cmdline("ARG", "--home", "/h"), append(home, "--", "ARG"))
			checkNormalized(t, cmdline("--home=/h", "ARG"), append([]string{"parley", "--home=/h"}, append(slices.Clone(leaf.path), "--", "ARG")...))
			checkNormalized(t, cmdline("ARG", "--", "--json", "-x"), want("--", "ARG", "--json", "-x"))
			checkNormalized(t, cmdline("-"), want("--", "-"))
			checkNormalized(t, cmdline(), want())
			for _, bogus := range []string{"--no-such-flag", "-5", "--no-such-flag=1"} {
				_, err := normalizeArgs(testApp(), cmdline("ARG", bogus))
				var ee *exitError
				if err == nil || !asExit(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), bogus) {
					t.Errorf("%q: err = %v, want a usage error naming %s", cmdline("ARG", bogus), err, bogus)
				}
			}
		})
	}
}

func checkNormalized(t *testing.T, in, want []string) {
	t.Helper()
	got, err := normalizeArgs(testApp(), in)
	if err != nil {
		t.Errorf("%q: %v", in, err)
		return
	}
	if !slices.Equal(got.args, want) {
		t.Errorf("%q\n  normalized to %q\n  want          %q", in, got.args, want)
	}
}

func asExit(err error, ee **exitError) bool {
	e, ok := err.(*exitError)
	*ee = e
	return ok
}

// The issue's own examples, run for real against an empty home: flags after the text
// are flags (and a wrong one is a usage error), never part of the text.
func TestFlagsAfterArgumentsRun(t *testing.T) {
	home := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"send", "bob", "hello", "--bogus"}, 2, "parley send has no flag --bogus"},
		{[]string{"status", "away", "back at 2", "--jsno"}, 2, "did you mean --json?"},
		{[]string{"history", "bob", "--limit", "5", "--serch", "x"}, 2, "did you mean --search?"},
		{[]string{"contacts", "add", "bob", "--name", "Bob", "--gruop", "sales"}, 2, "did you mean --group?"},
		{[]string{"send", "bob", "-5", "degrees"}, 2, "text that starts with - goes after --"},
		// These parse, and then need the node.
		{[]string{"send", "bob", "hello", "--json"}, 1, "parley is not running"},
		{[]string{"history", "bob", "--limit", "5"}, 1, "parley is not running"},
		{[]string{"contacts", "add", "bob", "--name", "Bob", "--group", "sales"}, 1, "parley is not running"},
		{[]string{"peers", "--home", home}, 1, "parley is not running for home " + home},
	} {
		r := parley(t, nil, append([]string{"--home", home}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("parley %q: exit %d, stderr %q; want exit %d and %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("the commands left files in the home: %v", entries)
	}
}

// `parley up --home DIR`: the README's quick start for a second person on the machine.
func TestUpHomeAfterCommand(t *testing.T) {
	home := filepath.Join(t.TempDir(), "second")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"parley", "up", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0", "--home", home}, nil, &stdout, &stderr)
	}()
	if !waitOutputFor(&stdout, "Parley is up", waitLong) {
		cancel()
		<-exited
		t.Fatalf("up --home did not start:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Errorf("up exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "Created a new identity in "+home) {
		t.Errorf("up did not use --home %s:\n%s", home, stdout.String())
	}
}
