package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/crypto"
)

// restartable runs a node whose home survives Close, so a test can bring it back.
type restartable struct {
	t    *testing.T
	home string
	id   *crypto.Identity
	cfg  Config
	*Node
}

func newRestartable(t *testing.T, name string, cfg Config) *restartable {
	t.Helper()
	home := t.TempDir()
	id, err := crypto.Create(home, name)
	if err != nil {
		t.Fatal(err)
	}
	r := &restartable{t: t, home: home, id: id, cfg: cfg}
	r.start()
	t.Cleanup(func() { r.Close() })
	return r
}

func (r *restartable) start() {
	r.t.Helper()
	cfg := r.cfg
	cfg.Home, cfg.Identity = r.home, r.id
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	n, err := New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.Node = n
}

func TestContactsAndNicknames(t *testing.T) {
	a, b := pair(t)
	ctx := context.Background()
	c, err := a.AddContact(ctx, api.ContactRequest{Peer: "Bob", Nickname: "Bobby", Group: "work"})
	if err != nil || !c.Contact || c.Group != "work" || c.Presence != api.PresenceOnline {
		t.Fatalf("AddContact: %+v, %v", c, err)
	}
	if res, err := a.Send(ctx, "bobby", "by nickname"); err != nil || res.Message.State != api.StateDelivered || res.Message.ToName != "Bobby" {
		t.Errorf("send by nickname: %+v, %v", res, err)
	}
	if _, err := a.AddContact(ctx, api.ContactRequest{Peer: a.ID().String()}); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("adding yourself: %v", err)
	}
	if err := a.RemoveContact(ctx, "Bobby"); err != nil {
		t.Fatal(err)
	}
	if cs, _ := a.Contacts(ctx); len(cs) != 0 {
		t.Errorf("contacts after rm: %+v", cs)
	}
	if err := a.RemoveContact(ctx, b.ID().String()); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("rm of a non-contact: %v", err)
	}
}

func TestBlockRefusesConnections(t *testing.T) {
	a, b := pair(t)
	ctx := context.Background()
	if _, err := a.SetBlocked(ctx, "Bob", true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "Bob disconnected", func() bool { return !hasOnline(a.Peers(), "Bob") })
	res, err := b.Send(ctx, "Ann", "let me in")
	if err != nil || res.Message.State != api.StateQueued {
		t.Errorf("send from a blocked peer: %+v, %v (want queued)", res, err)
	}
	if _, err := a.Send(ctx, "Bob", "and you?"); !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "parley contacts unblock Bob") {
		t.Errorf("send to a peer this node blocked: %v, want ErrBlocked saying how to unblock", err)
	}
	if hist, _ := a.History(ctx, api.HistoryQuery{}); len(hist) != 0 {
		t.Errorf("a blocked peer's message arrived, or a message to it was kept: %+v", hist)
	}
	if _, err := a.SetBlocked(ctx, "Bob", false); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the queued message after unblocking", func() bool {
		hist, _ := a.History(ctx, api.HistoryQuery{})
		return len(hist) == 1 && hist[0].Text == "let me in"
	})
}

func TestOfflineQueueKeepsOrderAcrossRestarts(t *testing.T) {
	a := newRestartable(t, "Ann", Config{})
	b := newRestartable(t, "Bob", Config{StaticPeers: []string{fullAddr(a.Node)}})
	waitUntil(t, "connected", func() bool { return hasOnline(a.Peers(), "Bob") })
	ctx := context.Background()
	if _, err := a.AddContact(ctx, api.ContactRequest{Peer: "Bob"}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	waitUntil(t, "Bob offline", func() bool { return !hasOnline(a.Peers(), "Bob") })
	var want []string
	for i := range 10 {
		if i == 5 { // the sender restarting changes nothing
			a.Close()
			a.start()
		}
		text := fmt.Sprintf("queued %02d", i)
		res, err := a.Send(ctx, "Bob", text)
		if err != nil || res.Message.State != api.StateQueued {
			t.Fatalf("send %d: %+v, %v", i, res, err)
		}
		want = append(want, text)
	}
	b.cfg.StaticPeers = []string{fullAddr(a.Node)}
	b.start()
	waitUntil(t, "all queued messages delivered", func() bool { return len(received(t, b.Node)) == len(want) })
	if got := received(t, b.Node); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("received %v, want %v in that order", got, want)
	}
	for _, m := range mustHistory(t, a.Node) {
		if m.State != api.StateDelivered {
			t.Errorf("sender's %q is %s, want delivered", m.Text, m.State)
		}
	}
}

func received(t *testing.T, n *Node) []string {
	var out []string
	for _, m := range mustHistory(t, n) {
		if m.Direction == "in" {
			out = append(out, m.Text)
		}
	}
	return out
}

func mustHistory(t *testing.T, n *Node) []api.Message {
	t.Helper()
	hist, err := n.History(context.Background(), api.HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return hist
}

func TestReadReceipts(t *testing.T) {
	a, b := pair(t)
	ctx := context.Background()
	res, _ := a.Send(ctx, "Bob", "please read")
	marked, err := b.MarkConversationRead(ctx, "Ann")
	if err != nil || marked != 1 {
		t.Fatalf("MarkConversationRead: %d, %v", marked, err)
	}
	waitUntil(t, "the sender's message read", func() bool {
		m, err := a.store.Get(ctx, archive.Key{ID: res.Message.ID, From: res.Message.From, To: res.Message.To})
		return err == nil && m.State == "read"
	})
	// A receipt for a message the peer never received is ignored.
	if err := a.MarkRead(ctx, b.ID(), []string{"not-a-message"}); err != nil {
		t.Error(err)
	}
}

func TestPresenceReachesPeers(t *testing.T) {
	a, b := pair(t)
	if _, err := b.SetPresence("busy", "in a meeting"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "busy seen", func() bool { return peerShows(a, "Bob", api.PresenceBusy, "in a meeting") })
	if _, err := b.SetPresence("invisible", "hidden"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "invisible shown offline", func() bool { return peerShows(a, "Bob", api.PresenceOffline, "") })
	if res, err := a.Send(context.Background(), "Bob", "still there?"); err != nil || res.Message.State != api.StateDelivered {
		t.Errorf("send to an invisible peer: %+v, %v", res, err)
	}
	if _, err := b.SetPresence("sleeping", ""); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("unknown presence: %v", err)
	}
}

func peerShows(n *Node, name, presence, status string) bool {
	for _, p := range n.Peers() {
		if p.Name == name {
			return p.Presence == presence && p.Status == status
		}
	}
	return false
}

func TestIdleTurnsAway(t *testing.T) {
	a := newRestartable(t, "Ann", Config{AwayAfter: 50 * time.Millisecond})
	waitUntil(t, "automatic away", func() bool { return a.Presence().Presence == api.PresenceAway && a.Presence().Auto })
	a.touch()
	if p := a.Presence(); p.Presence != api.PresenceOnline {
		t.Errorf("after activity: %+v", p)
	}
}

func TestOnMessageHook(t *testing.T) {
	out := filepath.Join(t.TempDir(), "hook.out")
	a := startNode(t, "Ann")
	b := newRestartable(t, "Bob", Config{
		StaticPeers: []string{fullAddr(a)},
		OnMessage:   `printf '%s|%s|' "$PARLEY_FROM_NAME" "$PARLEY_TEXT" >> ` + out + ` && cat >> ` + out,
	})
	waitUntil(t, "connected", func() bool { return hasOnline(a.Peers(), "Bob") })
	a.Send(context.Background(), "Bob", "hello hook")
	waitUntil(t, "the hook ran", func() bool {
		data, _ := os.ReadFile(out)
		return string(data) == "Ann|hello hook|hello hook"
	})
	_ = b
}

func TestOfficeTools(t *testing.T) {
	a, _ := pair(t)
	ctx := context.Background()
	a.Send(ctx, "Bob", "billable")
	var buf strings.Builder
	if count, err := a.Export(ctx, &buf, api.HistoryQuery{}); err != nil || count != 1 || !strings.Contains(buf.String(), "billable") {
		t.Errorf("Export: %d, %v, %q", count, err, buf.String())
	}
	rep, err := a.Report(ctx, time.Time{}, time.Time{}, 0, -1)
	if err != nil || len(rep.Peers) != 1 || rep.Peers[0].Name != "Bob" || rep.Peers[0].Duration != ReportMinSession {
		t.Errorf("Report: %+v, %v", rep, err)
	}
	if deleted, err := a.Purge(ctx, time.Now().Add(time.Minute)); err != nil || deleted != 1 {
		t.Errorf("Purge: %d, %v", deleted, err)
	}
	if _, err := a.Purge(ctx, time.Time{}); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("Purge without a time: %v", err)
	}
}
