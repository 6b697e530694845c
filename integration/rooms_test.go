package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
)

// TestRoomTenMembers: ten nodes in ten namespaces find each other by mDNS; Ann makes a
// room and invites the other nine — eight have Ann as a contact and join at once, one
// does not and joins with `room join ID` — every member posts, and every member ends
// with all ten messages in one and the same order.
func TestRoomTenMembers(t *testing.T) {
	lab := netlab.New(t)
	const members = 10
	nodes := make([]*testnode.Node, members)
	ids := make([]string, members)
	for i := range nodes {
		nodes[i] = testnode.Start(t, testnode.Options{Name: fmt.Sprintf("m%d", i), Host: lab.AddHost(fmt.Sprintf("m%d", i))})
		ids[i] = nodes[i].Status().PeerID
	}
	owner := nodes[0]
	for i := 1; i < members; i++ {
		waitConnected(t, nodes[i], ids[0])
		if i < members-1 {
			nodes[i].AddContact("owner", ids[0])
		}
	}
	created := roomCLI[api.Room](t, owner, "create", "team")
	for i := 1; i < members; i++ {
		roomCLI[api.Room](t, owner, "invite", "team", ids[i])
	}
	stranger := nodes[members-1]
	testnode.WaitFor(t, 60*time.Second, "the stranger's pending invitation", func() bool {
		return slices.ContainsFunc(roomCLI[api.RoomList](t, stranger, "ls").Invites, func(inv api.RoomInvite) bool { return inv.ID == created.ID })
	})
	roomCLI[api.Room](t, stranger, "join", created.ID)
	for i, n := range nodes {
		waitRoomMembers(t, n, "team", members, fmt.Sprintf("m%d", i))
	}
	var texts []string
	for i, n := range nodes {
		text := fmt.Sprintf("hello team, m%d here", i)
		texts = append(texts, text)
		n.CLI("send", "#team", text)
	}
	var first []string
	for i, n := range nodes {
		got := waitRoomTexts(t, n, "team", texts)
		if i == 0 {
			first = got
		} else if !slices.Equal(got, first) {
			t.Errorf("m%d shows the room in another order:\n%q\nm0:\n%q", i, got, first)
		}
	}
}

// waitConnected waits until n has a connection to the peer with this ID.
func waitConnected(t *testing.T, n *testnode.Node, id string) {
	t.Helper()
	testnode.WaitFor(t, 60*time.Second, "connection to "+id, func() bool { return isOnline(n.Peers(), id) })
}

// roomCLI runs `parley room ACTION --json ARGS...` on n and decodes the answer.
func roomCLI[T any](t *testing.T, n *testnode.Node, action string, args ...string) T {
	t.Helper()
	var v T
	out := n.CLI(append([]string{"room", action, "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("room %s: decode %q: %v", action, out, err)
	}
	return v
}

// waitRoomMembers waits until n is in room name with want members.
func waitRoomMembers(t *testing.T, n *testnode.Node, name string, want int, who string) api.Room {
	t.Helper()
	var found api.Room
	testnode.WaitFor(t, 60*time.Second, fmt.Sprintf("%s in #%s with %d members", who, name, want), func() bool {
		for _, r := range roomCLI[api.RoomList](t, n, "ls").Rooms {
			if r.Name == name && len(r.Members) == want {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// roomTexts is the room's history on n, texts in the order shown.
func roomTexts(t *testing.T, n *testnode.Node, name string) []string {
	t.Helper()
	var out []string
	for _, m := range n.History("#" + name) {
		out = append(out, m.Text)
	}
	return out
}

// waitRoomTexts waits until n's history of the room holds every text, and returns it.
func waitRoomTexts(t *testing.T, n *testnode.Node, name string, texts []string) []string {
	t.Helper()
	var got []string
	testnode.WaitFor(t, 90*time.Second, fmt.Sprintf("%d messages in #%s", len(texts), name), func() bool {
		got = roomTexts(t, n, name)
		for _, want := range texts {
			if !slices.Contains(got, want) {
				return false
			}
		}
		return true
	})
	return got
}

// loopbackRoom starts nodes on loopback, each keeping a connection to the first, with
// the first as everyone's contact; the first makes room name and invites the others.
func loopbackRoom(t *testing.T, name string, count int) ([]*testnode.Node, []string) {
	t.Helper()
	first := testnode.Start(t, testnode.Options{Name: "n0", Args: loopbackArgs()})
	firstAddr := first.Status().Addrs[0]
	nodes, ids := []*testnode.Node{first}, []string{first.Status().PeerID}
	for i := 1; i < count; i++ {
		n := testnode.Start(t, testnode.Options{Name: fmt.Sprintf("n%d", i), Args: append(loopbackArgs(), "--peer", firstAddr)})
		nodes, ids = append(nodes, n), append(ids, n.Status().PeerID)
		waitConnected(t, n, ids[0])
		n.AddContact("n0", ids[0])
	}
	roomCLI[api.Room](t, first, "create", name)
	for _, id := range ids[1:] {
		roomCLI[api.Room](t, first, "invite", name, id)
	}
	for i, n := range nodes {
		waitRoomMembers(t, n, name, count, fmt.Sprintf("n%d", i))
	}
	return nodes, ids
}

// TestRoomMemberStoppedDuringFiftyMessages: a member stopped while 50 messages are sent
// has all 50, in the room's order, after it starts again (from the room sync protocol).
func TestRoomMemberStoppedDuringFiftyMessages(t *testing.T) {
	nodes, _ := loopbackRoom(t, "ops", 3)
	sender, other, sleeper := nodes[0], nodes[1], nodes[2]
	var texts []string
	for i := range 50 {
		if i == 10 {
			sleeper.Stop()
		}
		text := fmt.Sprintf("ops message %02d", i)
		texts = append(texts, text)
		from := sender
		if i%3 == 0 {
			from = other
		}
		from.CLI("send", "#ops", text)
	}
	sleeper.Restart()
	got := waitRoomTexts(t, sleeper, "ops", texts)
	if want := waitRoomTexts(t, sender, "ops", texts); !slices.Equal(got, want) {
		t.Errorf("after restart the member shows\n%q\nthe sender shows\n%q", got, want)
	}
	if len(got) != 50 {
		t.Errorf("the member has %d messages, want 50 (no duplicates)", len(got))
	}
}

// TestRoomRemovedMemberCannotRead: the owner removes two members, one online (it is told,
// and the room leaves its list) and one stopped at the time (it comes back still
// believing it is in); the key rotates, the others keep talking, and neither removed
// member receives anything more, by gossip or by sync, nor gets a message accepted.
func TestRoomRemovedMemberCannotRead(t *testing.T) {
	nodes, ids := loopbackRoom(t, "board", 4)
	owner, stays, removed, away := nodes[0], nodes[1], nodes[2], nodes[3]
	owner.CLI("send", "#board", "before the removal")
	waitRoomTexts(t, removed, "board", []string{"before the removal"})
	waitRoomTexts(t, away, "board", []string{"before the removal"})
	away.Stop()

	roomCLI[api.Room](t, owner, "remove", "board", ids[2])
	after := roomCLI[api.Room](t, owner, "remove", "board", ids[3])
	if after.Epoch != 3 || len(after.Members) != 2 {
		t.Fatalf("after two removals: epoch %d, %d members; want 3 and 2", after.Epoch, len(after.Members))
	}
	testnode.WaitFor(t, 60*time.Second, "the remaining member to learn the new key", func() bool {
		for _, r := range roomCLI[api.RoomList](t, stays, "ls").Rooms {
			if r.Name == "board" && r.Epoch == 3 {
				return true
			}
		}
		return false
	})
	testnode.WaitFor(t, 60*time.Second, "the removed member to be told", func() bool {
		return len(roomCLI[api.RoomList](t, removed, "ls").Rooms) == 0
	})
	owner.CLI("send", "#board", "secret after the removal")
	stays.CLI("send", "#board", "reply after the removal")
	waitRoomTexts(t, stays, "board", []string{"secret after the removal", "reply after the removal"})

	// The member that was away comes back: it still thinks it is in, posts, and asks the
	// others for what it missed; they refuse both.
	away.Restart()
	waitConnected(t, away, ids[0])
	if len(roomCLI[api.RoomList](t, away, "ls").Rooms) != 1 {
		t.Fatal("the member that was away should still believe it is in the room")
	}
	away.CLI("send", "#board", "the removed member tries to post")
	owner.CLI("send", "#board", "last word")
	waitRoomTexts(t, stays, "board", []string{"last word"})
	// A post under the new key reaches it: it knows its key is out of date and stops
	// posting under the old one, saying why.
	testnode.WaitFor(t, 60*time.Second, "the member that was away to refuse to post with its old key", func() bool {
		_, err := away.TryCLI("send", "#board", "posting with an old key")
		return err != nil && strings.Contains(err.Error(), "has not received the new one")
	})
	for name, n := range map[string]*testnode.Node{"removed": removed, "away": away} {
		for _, text := range roomTexts(t, n, "board") {
			if strings.Contains(text, "after the removal") || text == "last word" {
				t.Errorf("the %s member can read %q", name, text)
			}
		}
	}
	for _, n := range []*testnode.Node{owner, stays} {
		if slices.Contains(roomTexts(t, n, "board"), "the removed member tries to post") {
			t.Errorf("a member accepted a message from a removed member")
		}
	}
}

// TestAnnouncementRoomAndBlockedAuthor: in an announcement room only the owner posts,
// and everyone reads; in a normal room a member who blocked another no longer shows that
// author's messages (they still reach the others).
func TestAnnouncementRoomAndBlockedAuthor(t *testing.T) {
	nodes, ids := loopbackRoom(t, "chat", 3)
	owner, a, b := nodes[0], nodes[1], nodes[2]

	roomCLI[api.Room](t, owner, "create", "--announce", "alerts")
	roomCLI[api.Room](t, owner, "invite", "alerts", ids[1])
	waitRoomMembers(t, a, "alerts", 2, "member")
	if out, err := a.TryCLI("send", "#alerts", "a member tries to announce"); err == nil || !strings.Contains(err.Error(), "only the owners post") {
		t.Fatalf("a member posting in an announcement room: %q, %v; want a clear refusal", out, err)
	}
	owner.CLI("send", "#alerts", "email is down: use Parley")
	waitRoomTexts(t, a, "alerts", []string{"email is down: use Parley"})

	a.CLI("contacts", "block", ids[2])
	b.CLI("send", "#chat", "from the blocked member")
	owner.CLI("send", "#chat", "from the owner")
	waitRoomTexts(t, owner, "chat", []string{"from the blocked member", "from the owner"})
	got := waitRoomTexts(t, a, "chat", []string{"from the owner"})
	if slices.Contains(got, "from the blocked member") {
		t.Errorf("a member shows a room message from a peer it blocked")
	}
}

// TestRoomDeclineLeaveAndReinvite: a stranger declines an invitation and the creator takes
// it off the room; a member leaves and the creator rotates the key without it; invited
// again, both see a waiting invitation (not an automatic join, even from a contact).
func TestRoomDeclineLeaveAndReinvite(t *testing.T) {
	nodes, ids := loopbackRoom(t, "team", 2)
	owner, member := nodes[0], nodes[1]
	stranger := testnode.Start(t, testnode.Options{Name: "stranger", Args: append(loopbackArgs(), "--peer", owner.Status().Addrs[0])})
	strangerID := stranger.Status().PeerID
	waitConnected(t, stranger, ids[0])

	created := roomCLI[api.Room](t, owner, "invite", "team", strangerID)
	waitInvite(t, stranger, created.ID)
	stranger.CLI("room", "decline", created.ID)
	waitRoomMembers(t, owner, "team", 2, "owner") // the stranger is off the room again
	if l := roomCLI[api.RoomList](t, stranger, "ls"); len(l.Invites) != 0 || len(l.Rooms) != 0 {
		t.Fatalf("after declining, the stranger lists %+v", l)
	}

	roomCLI[api.Room](t, member, "leave", "team")
	after := waitRoomMembers(t, owner, "team", 1, "owner")
	if after.Epoch < 2 {
		t.Errorf("the key did not rotate when a member left (epoch %d)", after.Epoch)
	}
	if _, err := owner.TryCLI("room", "leave", "team"); err != nil {
		t.Fatalf("the creator alone in its room cannot leave: %v", err)
	}
	roomCLI[api.Room](t, owner, "create", "again")
	roomCLI[api.Room](t, owner, "invite", "again", ids[1])
	waitRoomMembers(t, member, "again", 2, "member") // a new room: joined at once

	roomCLI[api.Room](t, owner, "invite", "again", strangerID)
	waitInvite(t, stranger, "")
	if _, err := member.TryCLI("room", "leave", "again"); err != nil {
		t.Fatal(err)
	}
	waitRoomMembers(t, owner, "again", 2, "owner")
	roomCLI[api.Room](t, owner, "invite", "again", ids[1])
	waitInvite(t, member, "")
	if l := roomCLI[api.RoomList](t, member, "ls"); len(l.Rooms) != 0 {
		t.Errorf("a contact's new invitation to a room the member left joined it at once: %+v", l.Rooms)
	}
}

// waitInvite waits until n lists a waiting invitation (to room id, if not empty).
func waitInvite(t *testing.T, n *testnode.Node, id string) {
	t.Helper()
	testnode.WaitFor(t, 60*time.Second, "a waiting invitation", func() bool {
		return slices.ContainsFunc(roomCLI[api.RoomList](t, n, "ls").Invites, func(inv api.RoomInvite) bool { return id == "" || inv.ID == id })
	})
}
