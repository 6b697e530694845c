package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testenv"
	"github.com/parley-im/parley/internal/testnode"
)

// completionLab is two real `parley up --no-mdns` processes on loopback: Ann, who asks
// before accepting files, and "Bob Lee", connected to her. Ann has Bob as the contact
// "Bobby B" and owns #ops; Bob invited her to #dev before that (pending) and offered her a file
// (pending too).
type completionLab struct {
	bin      string
	ann, bob *testnode.Node
	annID    string
	bobID    string
	transfer string // the pending transfer's ID, on Ann's side
	invite   string // the pending invitation's ID
}

func newCompletionLab(t *testing.T) *completionLab {
	t.Helper()
	loopback := []string{"--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"}
	l := &completionLab{bin: testnode.Build(t)}
	l.ann = testnode.Start(t, testnode.Options{Name: "Ann", Args: append(loopback, "--accept-files", "ask")})
	st := l.ann.Status()
	l.annID = st.PeerID
	l.bob = testnode.Start(t, testnode.Options{Name: "Bob Lee", Args: append(loopback, "--peer", st.Addrs[0])})
	l.bobID = l.bob.Status().PeerID
	testnode.WaitFor(t, waitLong, "Ann and Bob see each other", func() bool {
		return online(l.ann.Peers(), l.bobID) && online(l.bob.Peers(), l.annID)
	})
	l.ann.CLI("room", "create", "ops")
	l.bob.CLI("room", "create", "dev")
	l.bob.CLI("room", "invite", "dev", "Ann")
	testnode.WaitFor(t, waitLong, "Ann's invitation to #dev", func() bool {
		var rooms api.RoomList
		if err := json.Unmarshal([]byte(l.ann.CLI("room", "ls", "--json")), &rooms); err != nil {
			t.Fatal(err)
		}
		for _, inv := range rooms.Invites {
			l.invite = inv.ID
		}
		return l.invite != ""
	})
	l.ann.CLI("contacts", "add", "Bob Lee", "--name", "Bobby B") // after the invitation: a contact's is joined at once

	// Bob offers a file; Ann asks before accepting, so it waits on her side. The
	// send-file client is stopped once the offer is there; the node keeps the offer.
	file := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(file, []byte("quarterly numbers"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sender := exec.CommandContext(ctx, l.bin, "--home", l.bob.Home, "send-file", "Ann", file)
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); sender.Wait() }()
	testnode.WaitFor(t, waitLong, "Bob's offer waiting on Ann's side", func() bool {
		var ts api.TransferList
		l.ann.JSON(&ts, "transfers")
		for _, tr := range ts.Transfers {
			if tr.State == api.TransferPending {
				l.transfer = tr.ID
			}
		}
		return l.transfer != ""
	})
	return l
}

func online(peers []api.Peer, id string) bool {
	return slices.ContainsFunc(peers, func(p api.Peer) bool { return p.PeerID == id && p.Presence == api.PresenceOnline })
}

// completeLine runs the binary as the scripts do: `PARLEY_COMPLETE=shell parley
// WORDS... --generate-bash-completion`, the last word being the one completed, and
// returns the candidates' words. It must succeed and print nothing on stderr.
func completeLine(t *testing.T, bin, home, shell string, words ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(words, bashCompletionFlag)...)
	cmd.Env = append(os.Environ(), "PARLEY_HOME="+home, completeEnv+"="+shell, "GORACE=atexit_sleep_ms=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s complete %q: %v", shell, words, time.Since(start).Round(time.Millisecond))
	if err != nil || stderr.Len() > 0 {
		t.Errorf("completing %q: %v, stderr %q", words, err, stderr.String())
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		if line != "" {
			word, _, _ := strings.Cut(line, "\t")
			out = append(out, word)
		}
	}
	return out
}

func wantCandidates(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s: candidates %q, want %q", what, got, want)
	}
}

// TestCompletionAgainstNodes runs the completion path and the scripts against one lab.
func TestCompletionAgainstNodes(t *testing.T) {
	l := newCompletionLab(t)
	t.Run("knows the data", func(t *testing.T) { testCompletionKnowsTheData(t, l) })
	t.Run("runs nothing", func(t *testing.T) { testCompletionRunsNothing(t, l) })
	t.Run("scripts", func(t *testing.T) { testCompletionScripts(t, l) })
}

// testCompletionKnowsTheData: the completion path the scripts call, against real nodes,
// offers the node's data: names and '#rooms' for send, pending IDs for accept and join.
func testCompletionKnowsTheData(t *testing.T, l *completionLab) {
	ann := func(shell string, words ...string) []string {
		return completeLine(t, l.bin, l.ann.Home, shell, words...)
	}
	for _, cmd := range []string{"send", "chat", "history", "send-file"} {
		wantCandidates(t, cmd, ann("zsh", cmd, ""), "Bobby B", "#ops")
	}
	wantCandidates(t, "send with a prefix", ann("zsh", "send", "bo"), "Bobby B")
	wantCandidates(t, "send a room's name", ann("zsh", "send", "op"), "#ops") // means the room, as send's error says
	wantCandidates(t, "fish filters by itself", ann("fish", "send", "bo"), "Bobby B", "#ops")
	wantCandidates(t, "send #", ann("zsh", "send", "#"), "#ops")
	wantCandidates(t, "send after flags", ann("zsh", "send", "--json", "--home", l.ann.Home, ""), "Bobby B", "#ops")
	wantCandidates(t, "send's text", ann("zsh", "send", "Bobby B", ""))
	wantCandidates(t, "send-file's paths", ann("zsh", "send-file", "Bobby B", ""), completeFiles)
	wantCandidates(t, "transfers accept", ann("zsh", "transfers", "accept", ""), l.transfer)
	wantCandidates(t, "transfers cancel", ann("zsh", "transfers", "cancel", ""), l.transfer)
	wantCandidates(t, "room join", ann("zsh", "room", "join", ""), l.invite)
	wantCandidates(t, "room decline", ann("zsh", "room", "decline", ""), l.invite)
	wantCandidates(t, "room leave", ann("zsh", "room", "leave", ""), "ops")
	wantCandidates(t, "room invite", ann("zsh", "room", "invite", ""), "ops")
	wantCandidates(t, "room invite ops", ann("zsh", "room", "invite", "ops", ""), "Bobby B")
	wantCandidates(t, "room remove ops", ann("zsh", "room", "remove", "ops", "")) // Ann is its only member
	for _, sub := range []string{"rm", "verify", "block"} {
		wantCandidates(t, "contacts "+sub, ann("zsh", "contacts", sub, ""), "Bobby B")
	}
	wantCandidates(t, "contacts unblock", ann("zsh", "contacts", "unblock", ""))
	wantCandidates(t, "contacts add", ann("zsh", "contacts", "add", ""))

	// Bob's side: Ann is a peer seen, not a contact; #dev is his.
	bob := func(words ...string) []string { return completeLine(t, l.bin, l.bob.Home, "zsh", words...) }
	wantCandidates(t, "Bob: send", bob("send", ""), "Ann", "#dev")
	wantCandidates(t, "Bob: contacts add", bob("contacts", "add", ""), "Ann")
	wantCandidates(t, "Bob: room remove dev", bob("room", "remove", "dev", ""), "Ann")
	wantCandidates(t, "Bob: transfers cancel", bob("transfers", "cancel", ""), l.transfer)
	wantCandidates(t, "Bob: transfers accept", bob("transfers", "accept", "")) // his own offer is not his to accept

	// Commands, subcommands and flags, for each shell's protocol.
	wantCandidates(t, "room", ann("zsh", "room", ""), "create", "invite", "remove", "join", "decline", "leave", "ls", "list")
	wantCandidates(t, "transfers", ann("fish", "transfers", ""), "accept", "cancel")
	wantCandidates(t, "send --", ann("zsh", "send", "--"), "--json", "--home", "--help")
	wantCandidates(t, "history --s", ann("bash", "history", "bob", "--s"), "--search", "--since")
	wantCandidates(t, "up --accept-files", ann("zsh", "up", "--accept-files", ""), "contacts", "any", "ask")
	wantCandidates(t, "top level se", ann("zsh", "se"), "send", "send-file")

	// bash: words as typed, candidates quoted for the line.
	wantCandidates(t, "bash send", ann("bash", "send", ""), `Bobby\ B`, `\#ops`)
	wantCandidates(t, "bash send 'Bo", ann("bash", "send", "'Bo"), `'Bobby B'`)
	wantCandidates(t, `bash send "#`, ann("bash", "send", `"#`), `"#ops"`)
	wantCandidates(t, `bash send \#`, ann("bash", "send", `\#`), `\#ops`)
	wantCandidates(t, "bash room invite", ann("bash", "room", "invite", "ops", `Bobby\ `), `Bobby\ B`)
	wantCandidates(t, "bash --home=", ann("bash", "--home", "=", l.ann.Home, "room", "leave", ""), "ops")
}

// testCompletionRunsNothing: a TAB after `--` used to reach urfave/cli, which then ran
// the command: `parley send Ann -- hi <TAB>` sent a message. Completion never runs one.
func testCompletionRunsNothing(t *testing.T, l *completionLab) {
	for _, shell := range []string{"bash", "zsh", "fish", ""} {
		got := completeLine(t, l.bin, l.bob.Home, shell, "send", "Ann", "--", "hi", "")
		wantCandidates(t, shell+": after --", got)
	}
	if msgs := l.ann.History(); len(msgs) != 0 {
		t.Errorf("a TAB sent messages: %+v", msgs)
	}
}

// TestCompletionWithoutNode: with no node, or one that does not answer, completion
// prints what it knows without the node (commands, flags) and no error, and returns.
func TestCompletionWithoutNode(t *testing.T) {
	bin := testnode.Build(t)
	none := t.TempDir()
	wantCandidates(t, "no node: send", completeLine(t, bin, none, "bash", "send", ""))
	wantCandidates(t, "no node: accept", completeLine(t, bin, none, "zsh", "transfers", "accept", ""))
	wantCandidates(t, "no node: transfers", completeLine(t, bin, none, "zsh", "transfers", ""), "accept", "cancel")

	// A node that hangs: its API address accepts connections and never answers.
	hung := t.TempDir()
	ln := listenHung(t)
	os.WriteFile(filepath.Join(hung, api.AddrFile), []byte(ln), 0o600)
	os.WriteFile(filepath.Join(hung, api.TokenFile), []byte("token"), 0o600)
	start := time.Now()
	wantCandidates(t, "hung node: send", completeLine(t, bin, hung, "bash", "send", ""))
	t.Logf("completion against a node that never answers returned after %v (its deadline is %v)", time.Since(start).Round(time.Millisecond), completeTimeout)
}

// testCompletionScripts sources each generated script in the real shell and calls its
// completion function (fish: `complete -C`), the binary on PATH, against a real node.
func testCompletionScripts(t *testing.T, l *completionLab) {
	env := append(os.Environ(), "PATH="+filepath.Dir(l.bin)+":"+os.Getenv("PATH"), "PARLEY_HOME="+l.ann.Home, "GORACE=atexit_sleep_ms=0")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o600)
	script := func(shell string) string {
		r := parley(t, nil, "completion", shell)
		if r.code != 0 {
			t.Fatalf("completion %s: %s", shell, r)
		}
		path := filepath.Join(t.TempDir(), "parley."+shell)
		os.WriteFile(path, []byte(r.stdout), 0o600)
		return path
	}
	runShell := func(shell string, args ...string) []string {
		t.Helper()
		cmd := exec.Command(shell, args...)
		cmd.Env, cmd.Dir = env, dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", shell, err, out)
		}
		var lines []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" {
				word, _, _ := strings.Cut(line, "\t")
				lines = append(lines, word)
			}
		}
		return lines
	}

	t.Run("bash", func(t *testing.T) {
		bash := testenv.Tool(t, "needs bash", "bash")
		src := script("bash")
		compreply := func(words ...string) []string {
			t.Helper()
			var quoted []string
			for _, w := range words {
				quoted = append(quoted, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
			}
			prog := "source " + src + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=$((${#COMP_WORDS[@]}-1))\n" +
				"_parley parley\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
			return runShell(bash, "--norc", "--noprofile", "-c", prog)
		}
		wantCandidates(t, "send", compreply("parley", "send", ""), `Bobby\ B`, `\#ops`)
		wantCandidates(t, "send Bo", compreply("parley", "send", "Bo"), `Bobby\ B`)
		wantCandidates(t, "send '#", compreply("parley", "send", "'#"), `'#ops'`)
		wantCandidates(t, "accept", compreply("parley", "transfers", "accept", ""), l.transfer)
		wantCandidates(t, "join", compreply("parley", "room", "join", ""), l.invite)
		wantCandidates(t, "send-file paths", compreply("parley", "send-file", `Bobby\ B`, "no"), "notes.txt")
		wantCandidates(t, "flags", compreply("parley", "room", "ls", "--j"), "--json")
	})
	t.Run("zsh", func(t *testing.T) {
		zsh := testenv.Tool(t, "needs zsh", "zsh")
		src := script("zsh")
		// compadd and compdef exist only inside zsh's completion system: stand-ins print
		// the candidates _parley hands to compadd.
		stubs := "compdef() { :; }\n_files() { print -r -- FILES; }\n" +
			"compadd() { while (( $# )); do if [[ $1 == -a ]]; then shift; print -rl -- ${(P)1}; fi; shift; done }\n"
		complete := func(prefix string, words ...string) []string {
			t.Helper()
			var quoted []string
			for _, w := range words {
				quoted = append(quoted, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
			}
			prog := stubs + "source " + src + "\nwords=(" + strings.Join(quoted, " ") + " '" + prefix + "')\nCURRENT=${#words}\nPREFIX='" + prefix + "'\n_parley\n"
			return runShell(zsh, "-f", "-c", prog)
		}
		wantCandidates(t, "send", complete("", "parley", "send"), "Bobby B", "#ops")
		wantCandidates(t, `send Bobby\ `, complete(`Bobby\ `, "parley", "send"), "Bobby B")
		wantCandidates(t, "accept", complete("", "parley", "transfers", "accept"), l.transfer)
		wantCandidates(t, "room invite ops", complete("", "parley", "room", "invite", "ops"), "Bobby B")
		wantCandidates(t, "send-file paths", complete("", "parley", "send-file", `Bobby\ B`), "FILES")
	})
	t.Run("fish", func(t *testing.T) {
		fish := testenv.Tool(t, "needs fish", "fish")
		src := script("fish")
		complete := func(line string) []string {
			t.Helper()
			return runShell(fish, "--no-config", "-c", "source "+src+"; complete -C"+fishQuote(line))
		}
		wantCandidates(t, "send", complete("parley send "), "Bobby B", "#ops")
		wantCandidates(t, "send Bo", complete("parley send Bo"), "Bobby B")
		wantCandidates(t, "send '#", complete("parley send '#"), "#ops")
		wantCandidates(t, "accept", complete("parley transfers accept "), l.transfer)
		wantCandidates(t, "decline", complete("parley room decline "), l.invite)
		wantCandidates(t, "send-file paths", complete("parley send-file 'Bobby B' no"), "notes.txt")
	})
}

// listenHung is the address of a listener that never accepts: connections to it
// complete in the kernel and are never answered. It is closed at cleanup.
func listenHung(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// TestCompletionNames: names come from other peers, so a name is offered only when it
// prints as it is and the node resolves it to that one peer; otherwise the peer ID is.
func TestCompletionNames(t *testing.T) {
	self := "12D3KooWSelf"
	d := &nodeData{gotPeople: true, self: &self, roomCache: &api.RoomList{}}
	d.contacts = []api.Contact{
		{PeerID: "id-bob", Nickname: "Bobby B", Name: "Bob Lee", Contact: true},
		{PeerID: "id-blocked", Name: "Mallory", Blocked: true},
	}
	d.peers = []api.Peer{
		{PeerID: "id-bob", Name: "Bob Lee", Presence: api.PresenceOnline},
		{PeerID: "id-fake", Name: "bobby b"},           // announces the contact's nickname
		{PeerID: "id-sam1", Name: "Sam"},               // two peers of one name
		{PeerID: "id-sam2", Name: "Sam"},               //
		{PeerID: "id-eve", Name: "Eve\nparley send x"}, // a newline would be a second candidate
		{PeerID: "id-esc", Name: "\x1b]0;owned\a"},     // a terminal escape
		{PeerID: "id-dash", Name: "--home"},            // would read as a flag
		{PeerID: "id-hash", Name: "#ops"},              // would read as a room
		{PeerID: "id-anon"},                            // no name
		{PeerID: self, Name: "me"},
	}
	var got []string
	for _, c := range d.recipients() {
		got = append(got, c.word)
	}
	wantCandidates(t, "recipients", got, "Bobby B", "id-fake", "id-sam1", "id-sam2", "id-eve", "id-esc", "id-dash", "id-hash", "id-anon")
	got = nil
	for _, c := range d.contactsFor("unblock") {
		got = append(got, c.word)
	}
	wantCandidates(t, "unblock", got, "id-blocked") // not a contact and not seen: its name resolves to nothing
}

// TestBashQuote: what bashQuote writes, bash reads back as the candidate, in each
// quoting a word may be begun with; shellUnquote reads it back the same way.
func TestBashQuote(t *testing.T) {
	words := []string{"Bobby B", "#ops", "it's", `say "hi"`, `a\b`, "$HOME", "`x`", "~user", "a:b=c", "*?[", "día", "a!b", "semi;colon&", "(x)|<y>", "tab\there", "a!b"}
	var script strings.Builder
	for _, w := range words {
		for _, q := range []byte{0, '\'', '"'} {
			quoted := bashQuote(w, q)
			if back, open := shellUnquote(quoted); back != w || open != 0 {
				t.Errorf("shellUnquote(bashQuote(%q, %q)) = %q, open %q", w, q, back, open)
			}
			script.WriteString("printf '%s\\n' " + quoted + "\n")
		}
	}
	bash := testenv.Tool(t, "needs bash", "bash")
	// History expansion on, as at a prompt.
	out, err := exec.Command(bash, "--norc", "--noprofile", "-H", "-c", "set -H -o history\n"+script.String()).Output()
	if err != nil {
		t.Fatalf("bash: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	i := 0
	for _, w := range words {
		for _, q := range []byte{0, '\'', '"'} {
			if i >= len(lines) || lines[i] != w {
				t.Errorf("bash read %s as %q, want %q", bashQuote(w, q), lines[min(i, len(lines)-1)], w)
			}
			i++
		}
	}
}

// FuzzBashQuote: whatever a candidate holds, shellUnquote reads bashQuote's quoting back
// to it, so a name can never turn into more words or other text on the line.
func FuzzBashQuote(f *testing.F) {
	for _, s := range []string{"Bobby B", "#ops", "it's", `"\$`, "a\\", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, q := range []byte{0, '\'', '"'} {
			if back, open := shellUnquote(bashQuote(s, q)); back != s || open != 0 {
				t.Fatalf("shellUnquote(bashQuote(%q, %q)) = %q, open %q", s, q, back, open)
			}
		}
	})
}
