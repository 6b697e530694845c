package main

import (
	"context"
	"fmt"
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
			lo, hi := arity(leaf.cmd)
			n := max(lo, 2)
			if hi >= 0 {
				n = min(n, hi)
			}
			words := make([]string, n)
			for i := range words {
				words[i] = fmt.Sprintf("A%d", i)
			}
			plus := func(a []string, b ...string) []string { return append(slices.Clone(a), b...) }
			for _, f := range append(slices.Clone(leaf.cmd.Flags), cli.HelpFlag) {
				fw := flagWords(f)
				if n == 0 {
					checkNormalized(t, cmdline(fw...), want(fw...))
					continue
				}
				checkNormalized(t, cmdline(plus(words, fw...)...), want(plus(plus(fw, "--"), words...)...))
				checkNormalized(t, cmdline(plus(fw, words...)...), want(plus(plus(fw, "--"), words...)...))
				mixed := plus(plus(words[:1], fw...), words[1:]...)
				checkNormalized(t, cmdline(mixed...), want(plus(plus(fw, "--"), words...)...))
			}
			home := append([]string{"parley", "--home", "/h"}, leaf.path...)
			checkNormalized(t, cmdline(plus(words, "--home", "/h")...), plus(home, dashArgs(words)...))
			checkNormalized(t, cmdline(plus([]string{"--home=/h"}, words...)...), plus(append([]string{"parley", "--home=/h"}, leaf.path...), dashArgs(words)...))
			if n > 0 {
				last := plus(words[:n-1], "--", "--json")
				checkNormalized(t, cmdline(last...), want(plus([]string{"--"}, plus(words[:n-1], "--json")...)...))
				checkNormalized(t, cmdline(plus(words[:n-1], "-")...), want(plus([]string{"--"}, plus(words[:n-1], "-")...)...))
			}
			for _, bogus := range []string{"--no-such-flag", "-5", "--no-such-flag=1"} {
				_, err := normalizeArgs(testApp(), cmdline(plus(words, bogus)...))
				var ee *exitError
				if err == nil || !asExit(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), bogus) {
					t.Errorf("%q: err = %v, want a usage error naming %s", cmdline(plus(words, bogus)...), err, bogus)
				}
			}
		})
	}
}

// dashArgs is words as normalizeArgs writes them: after "--", if any.
func dashArgs(words []string) []string {
	if len(words) == 0 {
		return nil
	}
	return append([]string{"--"}, words...)
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

// TestTypos: a mistyped command is a usage error that names the closest command; a
// word near no command suggests nothing.
func TestTypos(t *testing.T) {
	home := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sned", "bob", "hi"}, "did you mean `parley send`?"},
		{[]string{"histroy"}, "did you mean `parley history`?"},
		{[]string{"contacts", "lst"}, "did you mean `parley contacts ls`?"},
		{[]string{"room", "craete", "ops"}, "did you mean `parley room create`?"},
		{[]string{"transfers", "acept", "12"}, "did you mean `parley transfers accept`?"},
		{[]string{"xyzzy"}, `unknown command "xyzzy" (see ` + "`parley --help`)"},
		{[]string{"help"}, "there is no help command: use `parley --help`"},
		{[]string{"contacts", "add", "--name"}, "parley contacts add: --name needs a value"},
	} {
		r := parley(t, nil, append([]string{"--home", home}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || r.stdout != "" {
			t.Errorf("parley %q: %s\nwant exit 2 and %q", c.args, r, c.want)
		}
	}
}

// TestUsageErrorsExit2: every way of getting a command line wrong, for every command,
// exits 2 with one line on stderr and nothing on stdout: a flag without its value, a
// value of the wrong type, and the wrong number of arguments (read from the command's
// ArgsUsage). `list` is `ls`.
func TestUsageErrorsExit2(t *testing.T) {
	home := t.TempDir()
	// Should a case ever get past the parser, the servers it starts stay on loopback
	// (never mDNS on this machine's network).
	safe := map[string][]string{
		"up":         {"--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"},
		"rendezvous": {"--listen", "/ip4/127.0.0.1/tcp/0", "--stun", "off", "--metrics", "off"},
	}
	check := func(args ...string) {
		t.Helper()
		if s, ok := safe[args[0]]; ok {
			n := 1
			if args[0] == "rendezvous" {
				n = 2
			}
			args = append(append(slices.Clone(args[:n]), s...), args[n:]...)
		}
		r := parley(t, nil, append([]string{"--home", home}, args...)...)
		if r.code != 2 || r.stdout != "" || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("parley %q: %s\nwant exit 2, one line on stderr", args, r)
		}
	}
	for _, leaf := range leafCommands(testApp().Commands, nil) {
		for _, f := range leaf.cmd.Flags {
			switch f.(type) {
			case *cli.IntFlag, *cli.DurationFlag, *cli.Float64Flag:
				check(append(slices.Clone(leaf.path), "--"+f.Names()[0], "not-a-number")...)
			}
			if v, ok := f.(interface{ TakesValue() bool }); ok && v.TakesValue() {
				check(append(slices.Clone(leaf.path), "--"+f.Names()[0])...) // the value is missing
			}
		}
		lo, hi := arity(leaf.cmd)
		if len(leaf.cmd.Subcommands) > 0 {
			continue
		}
		if hi >= 0 {
			check(append(slices.Clone(leaf.path), slices.Repeat([]string{"x"}, hi+1)...)...)
		}
		if lo > 0 {
			check(append(slices.Clone(leaf.path), slices.Repeat([]string{"x"}, lo-1)...)...)
		}
	}
	for _, args := range [][]string{{"contacts", "list"}, {"room", "list"}} {
		r := parley(t, nil, append([]string{"--home", home}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "parley is not running") {
			t.Errorf("parley %q: %s\nwant it to run as ls (and find no node)", args, r)
		}
	}
}

// TestHelpHasExamples: every command's help shows examples of it.
func TestHelpHasExamples(t *testing.T) {
	for _, leaf := range leafCommands(testApp().Commands, nil) {
		r := parley(t, nil, append(slices.Clone(leaf.path), "--help")...)
		name := "parley " + strings.Join(leaf.path, " ")
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "  "+name) {
			t.Errorf("%s --help shows no example of %s:\n%s", name, name, r)
		}
	}
}
