package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
)

// TestOfferAnnounced (issue 13 item 5): bob's `parley chat` announces ann's file offer
// with a command to accept it; ann's send-file says it waits for bob instead of
// printing nothing; the 8-digit prefix in the announcement accepts it.
func TestOfferAnnounced(t *testing.T) {
	ann, bob := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	defer cancel()

	stdin, typing := io.Pipe()
	var chatOut, chatErr syncBuffer
	chatDone := make(chan int, 1)
	go func() {
		chatDone <- run(ctx, []string{"parley", "--home", bob.home, "chat"}, stdin, &chatOut, &chatErr)
	}()
	waitOutput(t, &chatOut, "Showing all incoming messages")
	time.Sleep(500 * time.Millisecond) // the banner comes as the event stream is being opened

	src := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(src, make([]byte, 2202010), 0644); err != nil {
		t.Fatal(err)
	}
	var sendOut, sendErr syncBuffer
	sendDone := make(chan int, 1)
	go func() {
		sendDone <- run(ctx, []string{"parley", "--home", ann.home, "send-file", "bob", src}, nil, &sendOut, &sendErr)
	}()

	waitOutput(t, &chatOut, "ann offers report.pdf (2.1 MiB): `parley transfers accept ")
	waitOutput(t, &sendOut, "waiting for bob to accept report.pdf")
	m := regexp.MustCompile("`parley transfers accept ([0-9a-f]+)`").FindStringSubmatch(chatOut.String())
	if m == nil || len(m[1]) != 8 {
		t.Fatalf("the announcement has no 8-digit ID:\n%s", chatOut.String())
	}
	if r := bob.parley(t, nil, "transfers", "accept", m[1]); r.code != 0 {
		t.Fatalf("transfers accept %s (the announced prefix): %s", m[1], r)
	}
	select {
	case code := <-sendDone:
		if code != 0 || !strings.Contains(sendOut.String(), "completed: 1 file") {
			t.Errorf("send-file exited %d\nstdout:\n%s\nstderr:\n%s", code, sendOut.String(), sendErr.String())
		}
	case <-time.After(waitLong):
		t.Fatalf("send-file did not end after the accept:\n%s", sendOut.String())
	}
	if r := bob.parley(t, nil, "transfers", "accept", "zz"); r.code == 0 || !strings.Contains(r.stderr, `no transfer "zz"`) {
		t.Errorf("accept of a prefix nothing has: %s", r)
	}
	typing.Close()
	<-chatDone
}

// TestJoinInviteByNameOrPrefix (issue 13 item 5): a pending invitation is joined by
// its room's name, or by any unique prefix of its ID.
func TestJoinInviteByNameOrPrefix(t *testing.T) {
	ann, bob := pair(t)
	for _, name := range []string{"ops", "sales"} {
		if r := ann.parley(t, nil, "room", "create", name); r.code != 0 {
			t.Fatalf("room create %s: %s", name, r)
		}
		if r := ann.parley(t, nil, "room", "invite", name, bob.st.PeerID); r.code != 0 {
			t.Fatalf("room invite %s: %s", name, r)
		}
	}
	var invites []api.RoomInvite
	deadline := time.Now().Add(waitLong)
	for len(invites) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("bob has %d invitations, want 2", len(invites))
		}
		time.Sleep(50 * time.Millisecond)
		var l api.RoomList
		bob.jsonOf(t, &l, "room", "ls", "--json")
		invites = l.Invites
	}
	if r := bob.parley(t, nil, "room", "join", "ops"); r.code != 0 || !strings.Contains(r.stdout, "ops") {
		t.Fatalf("room join ops (by name): %s", r)
	}
	sales := invites[0]
	if sales.Name != "sales" {
		sales = invites[1]
	}
	if r := bob.parley(t, nil, "room", "join", sales.ID[:6]); r.code != 0 || !strings.Contains(r.stdout, "sales") {
		t.Fatalf("room join %s (a prefix of sales' ID): %s", sales.ID[:6], r)
	}
	if r := bob.parley(t, nil, "room", "join", "nosuch"); r.code == 0 || !strings.Contains(r.stderr, "no pending invitation") {
		t.Errorf("room join of a name nothing has: %s", r)
	}
}
