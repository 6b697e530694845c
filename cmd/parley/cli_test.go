package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/api"
)

// TestMain fails the package if its tests, all done, leave goroutines behind: every
// command, chat included, must return having stopped what it started.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	fuzzing := flag.Lookup("test.fuzz").Value.String() != "" // the fuzz engine keeps a signal goroutine
	if after := settledGoroutines(before); code == 0 && !fuzzing && after > before {
		buf := make([]byte, 1<<20)
		fmt.Fprintf(os.Stderr, "%d goroutines left behind by the tests:\n%s", after-before, buf[:runtime.Stack(buf, true)])
		code = 1
	}
	os.Exit(code)
}

// settledGoroutines waits (boundedly) for the goroutine count to drop to target.
func settledGoroutines(target int) int {
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > target && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return runtime.NumGoroutine()
}

// result is what one CLI invocation did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// parley runs `parley ARGS...` in-process with stdin and returns its exit status and
// output. A command that hangs fails the test instead of the suite.
func parley(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	code := run(ctx, append([]string{"parley"}, args...), stdin, &stdout, &stderr)
	if ctx.Err() != nil {
		t.Fatalf("parley %s did not finish in time", strings.Join(args, " "))
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// syncBuffer is a bytes.Buffer that a test may read while a command writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func wantOutput(t *testing.T, r result, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d", r.code, code)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q", s)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q", s)
		}
	}
	if t.Failed() {
		t.Logf("%s", r)
	}
}

func TestHelp(t *testing.T) {
	commands := []string{"init", "up", "id", "peers", "send", "history", "chat", "completion", "--home"}
	for _, args := range [][]string{{"--help"}, {"-h"}, {}} {
		r := parley(t, nil, args...)
		wantOutput(t, r, 0, commands, nil)
		if r.stderr != "" {
			t.Errorf("parley %v wrote to stderr: %q", args, r.stderr)
		}
	}
	wantOutput(t, parley(t, nil, "send", "--help"), 0, []string{"parley send", "TO TEXT...", "--json"}, nil)
	wantOutput(t, parley(t, nil, "history", "--help"), 0, []string{"--search", "--since", "--until", "--limit"}, nil)
}

func TestVersion(t *testing.T) {
	wantOutput(t, parley(t, nil, "--version"), 0, []string{api.Version}, nil)
}

// Wrong command lines exit 2 with one line on stderr that says what is wrong and where
// to look, and nothing on stdout. None of them gets as far as a node: the home is empty.
func TestUsageErrors(t *testing.T) {
	home := t.TempDir()
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"bogus"}, []string{`unknown command "bogus"`, "`parley --help`"}},
		{[]string{"--bogus"}, []string{"parley has no flag --bogus", "(see `parley --help`)"}},
		{[]string{"send", "--bogus", "bob", "hi"}, []string{"-bogus", "(see `parley send --help`)"}},
		{[]string{"history", "--limit", "many"}, []string{"-limit", "(see `parley history --help`)"}},
		{[]string{"history", "--limit", "-1"}, []string{"--limit"}},
		{[]string{"history", "--since", "garbage"}, []string{"--since", `"garbage" is not a time`}},
		{[]string{"history", "--until", "garbage"}, []string{"--until", `"garbage" is not a time`}},
		{[]string{"history", "--since", "-3h"}, []string{"--since"}},
		{[]string{"history", "bob", "ann"}, []string{"parley history takes at most 1 argument: [TO], got 2 arguments"}},
		{[]string{"send"}, []string{"parley send needs TO TEXT..., got 0 arguments", "(see `parley send --help`)"}},
		{[]string{"send", "bob"}, []string{"parley send needs TO TEXT..., got 1 argument"}},
		{[]string{"peers", "bob"}, []string{"parley peers takes no arguments"}},
		{[]string{"completion"}, []string{"parley completion needs bash|zsh|fish"}},
		{[]string{"completion", "powershell"}, []string{"completion needs a shell"}},
		{[]string{"up", "--log-level", "loud"}, []string{"--log-level", "debug, info, warn or error"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := parley(t, nil, append([]string{"--home", home}, c.args...)...)
			wantOutput(t, r, 2, nil, append([]string{"parley: "}, c.want...))
			if r.stdout != "" {
				t.Errorf("a usage error printed to stdout:\n%s", r.stdout)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("stderr is not one line:\n%s", r.stderr)
			}
			if strings.Contains(r.stderr, "parley parley") {
				t.Errorf("stderr repeats the program name: %s", r.stderr)
			}
		})
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("usage errors left files in the home: %v", entries)
	}
}

func TestInit(t *testing.T) {
	home := t.TempDir()
	r := parley(t, nil, "--home", home, "init", "--name", "Ann Example")
	wantOutput(t, r, 0, []string{"Created identity in " + home, "Name:         Ann Example", "Peer ID:      12D3KooW", "Fingerprint:  "}, nil)
	fi, err := os.Stat(filepath.Join(home, "identity.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("identity.key: %v, %v; want a file of mode 0600", fi, err)
	}
	key, _ := os.ReadFile(filepath.Join(home, "identity.key"))

	r = parley(t, nil, "--home", home, "init", "--name", "Someone Else")
	wantOutput(t, r, 1, nil, []string{"parley: ", "already exists", home})
	if again, _ := os.ReadFile(filepath.Join(home, "identity.key")); !bytes.Equal(again, key) {
		t.Error("a refused init changed the identity key")
	}
}

func TestInitJSON(t *testing.T) {
	home := filepath.Join(t.TempDir(), "new")
	r := parley(t, nil, "--home", home, "init", "--json", "--name", "ann")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	var st api.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("stdout is not a Status: %v\n%s", err, r.stdout)
	}
	if st.Name != "ann" || !strings.HasPrefix(st.PeerID, "12D3KooW") || st.Home != home || st.Fingerprint == "" || st.Version != api.Version {
		t.Errorf("init --json printed %+v", st)
	}
}

func TestInitRejectsAnEmptyName(t *testing.T) {
	home := t.TempDir()
	wantOutput(t, parley(t, nil, "--home", home, "init", "--name", " "), 1, nil, []string{"display name is empty"})
	if _, err := os.Stat(filepath.Join(home, "identity.key")); err == nil {
		t.Error("init with an empty name created an identity")
	}
}

// Every client command, run for a home with no node, says so and how to fix it.
func TestNoNodeRunning(t *testing.T) {
	home := t.TempDir()
	if r := parley(t, nil, "--home", home, "init", "--name", "ann"); r.code != 0 {
		t.Fatalf("init: %s", r)
	}
	for _, args := range [][]string{
		{"peers"}, {"peers", "--json"}, {"send", "bob", "hi"},
		{"history"}, {"history", "--json", "bob"}, {"chat"}, {"chat", "bob"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := parley(t, strings.NewReader("hi\n"), append([]string{"--home", home}, args...)...)
			wantOutput(t, r, 1, nil, []string{"parley is not running for home " + home, "start it with `parley up`"})
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}
}

// id works without a running node when the home has an identity (a stopped node, or a
// rendezvous server's home): it shows who, with no addresses. With no identity either,
// it says the node is not running.
func TestIDWithoutNode(t *testing.T) {
	home := t.TempDir()
	wantOutput(t, parley(t, nil, "--home", home, "id"), 1, nil, []string{"parley is not running for home " + home})
	if r := parley(t, nil, "--home", home, "init", "--name", "ann"); r.code != 0 {
		t.Fatalf("init: %s", r)
	}
	r := parley(t, nil, "--home", home, "id", "--json")
	var st api.Status
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.Name != "ann" || st.PeerID == "" || len(st.Addrs) != 0 {
		t.Errorf("id --json without a node: %s", r)
	}
	wantOutput(t, parley(t, nil, "--home", home, "id"), 0, []string{"Peer ID:", "no node is running"}, nil)
}

func TestHomeFromEnvironment(t *testing.T) {
	home := t.TempDir()
	t.Setenv("PARLEY_HOME", home)
	wantOutput(t, parley(t, nil, "id"), 1, nil, []string{"parley is not running for home " + home})
}

func TestRelativeHomeIsMadeAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	wantOutput(t, parley(t, nil, "--home", "rel", "peers"), 1, nil, []string{"parley is not running for home " + filepath.Join(dir, "rel") + ":"})
}

func TestCompletion(t *testing.T) {
	cases := map[string][]string{
		"bash": {"_parley()", "PARLEY_COMPLETE=bash", "--generate-bash-completion", "complete -F _parley parley"},
		"zsh":  {"#compdef parley", "PARLEY_COMPLETE=zsh", "--generate-bash-completion", "compdef _parley parley", "compinit"},
		"fish": {"function __parley_complete", "PARLEY_COMPLETE=fish", "--generate-bash-completion", "complete -c parley -f -a '(__parley_complete)'"},
	}
	for shell, want := range cases {
		t.Run(shell, func(t *testing.T) {
			r := parley(t, nil, "completion", shell)
			wantOutput(t, r, 0, want, nil)
			if r.stderr != "" {
				t.Errorf("stderr: %q", r.stderr)
			}
			checkSyntax(t, shell, r.stdout)
		})
	}
}

// checkSyntax has the shell parse the script without running it, when that shell is
// installed here.
func checkSyntax(t *testing.T, shell, script string) {
	t.Helper()
	flag := map[string]string{"bash": "-n", "zsh": "-n", "fish": "--no-execute"}[shell]
	path, err := exec.LookPath(shell)
	if err != nil {
		t.Logf("%s is not installed: syntax not checked", shell)
		return
	}
	cmd := exec.Command(path, flag)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s does not parse the script: %v\n%s", shell, err, out)
	}
}

// The completion scripts call `parley ... --generate-bash-completion`; with no words
// (urfave/cli's old protocol) the answer is the commands, one a line.
func TestCompletionCandidates(t *testing.T) {
	r := parley(t, nil, "--generate-bash-completion")
	wantOutput(t, r, 0, []string{"init\n", "send\n", "history\n", "chat\n", "completion\n"}, nil)
}

// `send TO -` reads the text from stdin; an empty or oversized stdin is refused before
// anything reaches the node (the home here has none).
func TestSendFromStdinRefusals(t *testing.T) {
	home := t.TempDir()
	wantOutput(t, parley(t, strings.NewReader(""), "--home", home, "send", "bob", "-"), 1, nil, []string{"nothing to send", "stdin"})
	wantOutput(t, parley(t, strings.NewReader(" \n\n"), "--home", home, "send", "bob", "-"), 1, nil, []string{"nothing to send"})
	big := strings.Repeat("x", 32<<10+1)
	wantOutput(t, parley(t, strings.NewReader(big), "--home", home, "send", "bob", "-"), 1, nil, []string{"more than 32 KiB", "send-file"})
	// - among other words is a word.
	wantOutput(t, parley(t, strings.NewReader("ignored"), "--home", home, "send", "bob", "a", "-", "b"), 1, nil, []string{"parley is not running"})
}

// jsonError decodes stderr as exactly one JSON error object.
func jsonError(t *testing.T, r result) (msg, code string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	dec := json.NewDecoder(strings.NewReader(r.stderr))
	if err := dec.Decode(&e); err != nil || e.Error == "" || e.Code == "" || dec.More() || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("stderr is not one JSON error object on one line (%v):\n%s", err, r)
	}
	return e.Error, e.Code
}

// TestJSONErrors: with --json (before or after the arguments) an error is one JSON
// object on stderr, with a code a script can branch on.
func TestJSONErrors(t *testing.T) {
	home := t.TempDir()
	for _, c := range []struct {
		args       []string
		exit       int
		code, text string
	}{
		{[]string{"send", "bob", "hi", "--json"}, 1, "not_running", "parley is not running for home " + home},
		{[]string{"--json", "peers"}, 2, "usage", "parley has no flag --json"},
		{[]string{"peers", "--json", "extra"}, 2, "usage", "takes no arguments"},
		{[]string{"history", "--json", "--limit", "many"}, 2, "usage", "-limit"},
		{[]string{"up", "--json"}, 2, "usage", "parley up has no flag --json"},
		{[]string{"sned", "--json"}, 2, "usage", "did you mean `parley send`?"},
		{[]string{"send", "bob", "-", "--json"}, 1, "error", "nothing to send"},
	} {
		r := parley(t, nil, append([]string{"--home", home}, c.args...)...)
		msg, code := jsonError(t, r)
		if r.code != c.exit || code != c.code || !strings.Contains(msg, c.text) || strings.HasPrefix(msg, "parley: ") {
			t.Errorf("parley %q: exit %d, code %q, error %q; want exit %d, code %q, %q", c.args, r.code, code, msg, c.exit, c.code, c.text)
		}
	}
	// Without --json errors stay one plain line, and --json after -- is text.
	r := parley(t, nil, "--home", home, "send", "bob", "--", "--json")
	if !strings.HasPrefix(r.stderr, "parley: parley is not running") {
		t.Errorf("send bob -- --json: %s", r)
	}
}

// TestEveryCommandHasJSON: every command that prints a result takes --json, and with
// it reports a wrong command line as a JSON error. The exceptions run in the
// foreground or print a script.
func TestEveryCommandHasJSON(t *testing.T) {
	exempt := map[string]bool{"up": true, "chat": true, "completion": true}
	for _, leaf := range leafCommands(testApp().Commands, nil) {
		name := strings.Join(leaf.path, " ")
		if exempt[name] || len(leaf.cmd.Subcommands) > 0 && len(leaf.cmd.Flags) == 0 {
			continue // rendezvous, network-key: only their subcommands do something
		}
		if !slices.ContainsFunc(leaf.cmd.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), "json") }) {
			t.Errorf("parley %s has no --json", name)
			continue
		}
		r := parley(t, nil, append(slices.Clone(leaf.path), "--json", "--no-such-flag")...)
		if _, code := jsonError(t, r); r.code != 2 || code != "usage" {
			t.Errorf("parley %s --json --no-such-flag: exit %d, code %q", name, r.code, code)
		}
	}
}

func TestHistoryShowsWhereHeld(t *testing.T) {
	m := api.Message{From: "me", To: "12D3KooWBob", Direction: "out", State: api.StateHeld,
		HeldAt: []string{"12D3KooWMailboxHostA1b2c3"}, Text: "hi", ToName: "Bob"}
	if got := formatMessage(m); !strings.Contains(got, "held@12D3…A1b2c3 me → Bob: hi") {
		t.Errorf("history line %q does not say where the message is held", got)
	}
}
