package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/parley-im/parley/api"
)

// TestUniqueMatch: one match is it; none is ErrNotFound; several is ErrBadRequest
// naming every candidate (issue 13 item 5: an ambiguous prefix is a clear error).
func TestUniqueMatch(t *testing.T) {
	labels := map[string]string{"2561aa": "2561aa (a.pdf)", "2561bb": "2561bb (b.pdf)"}
	if got, err := uniqueMatch("transfer", "2561a", []string{"2561aa"}, labels, "x"); err != nil || got != "2561aa" {
		t.Errorf("one match: %q, %v", got, err)
	}
	if _, err := uniqueMatch("transfer", "99", nil, labels, "`parley transfers`"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("no match: %v, want ErrNotFound", err)
	}
	_, err := uniqueMatch("transfer", "2561", []string{"2561bb", "2561aa"}, labels, "x")
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "2561aa (a.pdf), 2561bb (b.pdf)") {
		t.Errorf("two matches: %v", err)
	}
}

// TestTransferNote: a paused transfer whose peer is away says so in one line; any other
// reason is its first line, clipped (issue 13 item 6).
func TestTransferNote(t *testing.T) {
	dial := "cannot reach the receiver, retrying: failed to dial: all dials failed\n  * [/ip4/127.0.0.1/tcp/4001] connection refused"
	paused := api.Transfer{State: "paused", Direction: "out", PeerName: "Bob", Error: dial}
	if got := transferNote(paused, false); got != "Bob is offline; resumes when they are back" {
		t.Errorf("offline: %q", got)
	}
	if got := transferNote(paused, true); got != "cannot reach the receiver, retrying: failed to dial: all dials failed" {
		t.Errorf("reachable: %q", got)
	}
	paused.PeerName = ""
	if got := transferNote(paused, false); got != "the receiver is offline; resumes when they are back" {
		t.Errorf("no name: %q", got)
	}
	long := api.Transfer{State: "failed", Error: strings.Repeat("x", 300)}
	if got := []rune(transferNote(long, true)); len(got) != maxNote {
		t.Errorf("a long reason is %d runes, want %d", len(got), maxNote)
	}
}
