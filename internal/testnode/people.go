package testnode

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-im/parley/api"
)

// Contacts is `parley contacts ls --json`.
func (n *Node) Contacts() []api.Contact {
	n.tb.Helper()
	var l api.ContactList
	n.decode(&l, "contacts", "ls", "--json")
	return l.Contacts
}

// Contact returns the node's buddy-list entry for peer ID id, if it has one.
func (n *Node) Contact(id string) (api.Contact, bool) {
	n.tb.Helper()
	for _, c := range n.Contacts() {
		if c.PeerID == id {
			return c, true
		}
	}
	return api.Contact{}, false
}

// AddContact is `parley contacts add --name NICK PEER`.
func (n *Node) AddContact(nick, peer string) api.Contact {
	n.tb.Helper()
	var c api.Contact
	n.decode(&c, "contacts", "add", "--json", "--name", nick, peer)
	return c
}

// Peer returns how the node sees peer ID id (`parley peers --json`), if it knows it.
func (n *Node) Peer(id string) (api.Peer, bool) {
	n.tb.Helper()
	for _, p := range n.Peers() {
		if p.PeerID == id {
			return p, true
		}
	}
	return api.Peer{}, false
}

// Presence is `parley status --json`: what the node shows others.
func (n *Node) Presence() api.Presence {
	n.tb.Helper()
	var p api.Presence
	n.JSON(&p, "status")
	return p
}

// SetPresence is `parley status --json PRESENCE [TEXT]`.
func (n *Node) SetPresence(presence, text string) api.Presence {
	n.tb.Helper()
	args := []string{"status", "--json", presence}
	if text != "" {
		args = append(args, text)
	}
	var p api.Presence
	n.decode(&p, args...)
	return p
}

// decode runs the CLI with args as given and decodes its JSON output into v.
func (n *Node) decode(v any, args ...string) {
	n.tb.Helper()
	out := n.CLI(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		n.tb.Fatalf("%s: parley %s: decode %q: %v", n.opts.Name, strings.Join(args, " "), out, err)
	}
}

// Bin is the path of the CLI binary the node runs (see Build).
func (n *Node) Bin() string { return n.bin }

// Shell runs `sh -c script` in the node's namespace, as a user at that node's machine
// would: PARLEY_HOME is the node's home and the CLI binary's folder comes first in PATH,
// so the script calls plain `parley`. It returns stdout; a failure (or running past
// timeout) is an error carrying stderr.
func (n *Node) Shell(timeout time.Duration, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var cmd *exec.Cmd
	if n.opts.Host != nil {
		cmd = n.opts.Host.Command(ctx, "sh", "-c", script)
	} else {
		cmd = exec.CommandContext(ctx, "sh", "-c", script)
	}
	cmd.Env = childEnv("PARLEY_HOME="+n.Home,
		"PATH="+filepath.Dir(n.bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: sh -c %q: %v: %s", n.opts.Name, script, err, errb.String())
	}
	return out.String(), nil
}
