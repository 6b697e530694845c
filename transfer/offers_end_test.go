package transfer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/wire"
)

// cancelAs sends CANCEL of id from h (no Manager on h) and waits for the ACK.
func cancelAs(t testing.TB, h host.Host, to peer.ID, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	st, err := h.NewStream(ctx, to, ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(waitLimit))
	if _, err := st.Write(AppendCancel(nil, Cancel{ID: id, Reason: strings.Repeat("r", MaxReason)})); err != nil {
		t.Fatal(err)
	}
	if typ, _, err := ReadFrame(bufio.NewReader(st)); err != nil || typ != TypeAck {
		t.Fatalf("CANCEL: reply 0x%02x %v, want an ACK", byte(typ), err)
	}
}

// stateFiles counts the transfers' files (records and manifests) in a state directory.
func stateFiles(t testing.TB, dir string) int {
	t.Helper()
	var n int
	for _, pat := range []string{"*.json", "*.manifest"} {
		names, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		n += len(names)
	}
	return n
}

// TestStrangerOffersEndedWhileWaitingLeaveNothing: peer IDs are free, so a stranger's
// offer that ends while it waits (its sender cancels it, or the user turns it down)
// must leave nothing behind: not in the list, not in the state directory, not after a
// restart. Its sender is still told how it ended, and a fresh send offers it anew.
func TestStrangerOffersEndedWhileWaitingLeaveNothing(t *testing.T) {
	b := newHost(t, nil)
	rb := newSide(t, b, func(c *Config) { c.Policy = AcceptContacts; c.MaxStrangerOffers = 2 })
	const rounds = 12 // six times the budget: each ended offer frees its place
	hs := strangers(t, b, rounds)
	var ids []string
	for i, h := range hs {
		man := emptyFiles("gone", MaxListedFiles, 200)
		a, err := offerAs(t, h, b.ID(), man, true)
		if err != nil || a.Status != StatusPending {
			t.Fatalf("offer %d: %+v %v", i, a, err)
		}
		if i%2 == 0 {
			cancelAs(t, h, b.ID(), a.ID)
		} else if err := rb.m.Cancel(a.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	if n := len(rb.m.List()); n != 0 {
		t.Errorf("%d offers that ended while they waited are still listed, want none", n)
	}
	if n := stateFiles(t, rb.cfg.StateDir); n != 0 {
		t.Errorf("%d files of offers that ended while they waited are in the state directory, want none", n)
	}
	rb.m.Close()
	m := restartSide(t, rb)
	if n := len(m.List()); n != 0 {
		t.Errorf("a restart loaded %d offers that ended while they waited, want none", n)
	}
	man := emptyFiles("gone", MaxListedFiles, 200)
	if a, err := offerAs(t, hs[1], b.ID(), man, false); err != nil || a.Status != StatusCanceled {
		t.Errorf("a turned-down offer offered again (not fresh): %+v %v, want canceled", a, err)
	}
	if a, err := offerAs(t, hs[1], b.ID(), man, true); err != nil || a.Status != StatusPending || a.ID != ids[1] {
		t.Errorf("a turned-down offer sent again: %+v %v, want pending", a, err)
	}
}

// TestLegacyEndedStrangerOfferIsDropped: a stranger's offer that ended while it waited,
// left by an older version as a record without a manifest, is deleted at start.
func TestLegacyEndedStrangerOfferIsDropped(t *testing.T) {
	b := newHost(t, nil)
	rb := newSide(t, b, func(c *Config) { c.Policy = AcceptContacts })
	h := strangers(t, b, 1)[0]
	a, err := offerAs(t, h, b.ID(), emptyFiles("legacy", 3, 20), true)
	if err != nil || a.Status != StatusPending {
		t.Fatalf("offer: %+v %v", a, err)
	}
	tr := rb.m.get(a.ID)
	tr.mu.Lock()
	tr.setLocked(StateCanceled, "canceled here", false)
	tr.mu.Unlock()
	rb.m.persist(tr) // as the old cancelLocal left it: the record, no manifest
	os.Remove(rb.m.store.manifestPath(a.ID))
	rb.m.Close()
	m := restartSide(t, rb)
	if _, ok := m.Get(a.ID); ok {
		t.Errorf("an ended stranger's offer left by an older version was loaded")
	}
	if n := stateFiles(t, rb.cfg.StateDir); n != 0 {
		t.Errorf("%d of its files are still in the state directory", n)
	}
}

// TestReofferedPendingHoldsSummary: an offer sent again that waits for Accept holds only
// its summary in memory, whether the earlier one was turned down while it waited (a
// contact's, under AcceptAsk) or canceled after Accept (a stranger's).
func TestReofferedPendingHoldsSummary(t *testing.T) {
	b := newHost(t, nil)
	friend := newHost(t, nil)
	connect(t, friend, b)
	rb := newSide(t, b, func(c *Config) {
		c.Policy = AcceptAsk
		c.IsContact = func(p peer.ID) bool { return p == friend.ID() }
	})
	stranger := strangers(t, b, 1)[0]
	for _, tc := range []struct {
		name   string
		h      host.Host
		accept bool
	}{{"contact, turned down", friend, false}, {"stranger, accepted then canceled", stranger, true}} {
		man := emptyFiles("again", 20, 30)
		a, err := offerAs(t, tc.h, b.ID(), man, true)
		if err != nil || a.Status != StatusPending {
			t.Fatalf("%s: offer: %+v %v", tc.name, a, err)
		}
		if tc.accept {
			if err := rb.m.Accept(a.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := rb.m.Cancel(a.ID); err != nil {
			t.Fatal(err)
		}
		if again, err := offerAs(t, tc.h, b.ID(), man, true); err != nil || again.Status != StatusPending {
			t.Fatalf("%s: sent again: %+v %v, want pending", tc.name, again, err)
		}
		tr := rb.m.get(a.ID)
		tr.mu.Lock()
		held := tr.man != nil
		tr.mu.Unlock()
		if held {
			t.Errorf("%s: the waiting offer holds its whole list of files in memory", tc.name)
		}
		if info, _ := rb.m.Get(a.ID); len(info.Files) != 20 {
			t.Errorf("%s: Get lists %d files, want 20", tc.name, len(info.Files))
		}
	}
}

// TestCancelDuringAcceptDropsManifest: a CANCEL that arrives while Accept loads the
// manifest (after the load, before the state change) still deletes it: the offer
// ended while it waited.
func TestCancelDuringAcceptDropsManifest(t *testing.T) {
	b := newHost(t, nil)
	friend := newHost(t, nil)
	connect(t, friend, b)
	rb := newSide(t, b, func(c *Config) {
		c.Policy = AcceptAsk
		c.IsContact = func(p peer.ID) bool { return p == friend.ID() }
	})
	man := emptyFiles("race", 3, 20)
	a, err := offerAs(t, friend, b.ID(), man, true)
	if err != nil || a.Status != StatusPending {
		t.Fatalf("offer: %+v %v", a, err)
	}
	tr := rb.m.get(a.ID)
	if err := rb.m.loadManifest(tr); err != nil { // Accept's first half
		t.Fatal(err)
	}
	cancelAs(t, friend, b.ID(), a.ID)
	if err := rb.m.Accept(a.ID); err == nil {
		t.Errorf("Accept of a canceled offer succeeded")
	}
	if _, err := os.Stat(rb.m.store.manifestPath(a.ID)); !os.IsNotExist(err) {
		t.Errorf("the canceled offer's manifest is kept: %v", err)
	}
	if again, err := offerAs(t, friend, b.ID(), man, true); err != nil || again.Status != StatusPending {
		t.Fatalf("sent again: %+v %v, want pending", again, err)
	}
	if err := rb.m.Accept(a.ID); err != nil {
		t.Errorf("Accept of the offer sent again: %v", err)
	}
}

// offerRaw writes frame (an OFFER) from h, as a hostile client would, and returns the
// answer, or the error if the stream is refused.
func offerRaw(t testing.TB, h host.Host, to peer.ID, frame []byte) (Answer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	st, err := h.NewStream(ctx, to, ProtocolID)
	if err != nil {
		return Answer{}, err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(waitLimit))
	if _, err := st.Write(frame); err != nil {
		return Answer{}, err
	}
	typ, p, err := ReadFrame(bufio.NewReader(st))
	if err != nil {
		return Answer{}, err
	}
	if typ != TypeAnswer {
		t.Fatalf("answer of frame type 0x%02x", byte(typ))
	}
	return ParseAnswer(p)
}

// TestStrangerOfferMustOpenWithID: a stranger's OFFER whose id is not its first field
// is refused before it is read; the same from a contact is taken.
func TestStrangerOfferMustOpenWithID(t *testing.T) {
	b := newHost(t, nil)
	friend := newHost(t, nil)
	connect(t, friend, b)
	rb := newSide(t, b, func(c *Config) {
		c.Policy = AcceptContacts
		c.IsContact = func(p peer.ID) bool { return p == friend.ID() }
	})
	stranger := strangers(t, b, 1)[0]
	for _, h := range []host.Host{stranger, friend} {
		man := emptyFiles("order", 2, 20)
		id := TransferID(h.ID(), b.ID(), &man)
		frame := appendFrame(nil, TypeOffer, appendID(appendManifest(nil, &man), id))
		a, err := offerRaw(t, h, b.ID(), frame)
		if h == stranger && err == nil {
			t.Errorf("a stranger's OFFER with its id last: answered %+v, want the stream refused", a)
		}
		if h == friend && (err != nil || a.Status != StatusAccepted) {
			t.Errorf("a contact's OFFER with its id last: %+v %v, want accepted", a, err)
		}
	}
	if n := countPending(rb); n != 0 {
		t.Errorf("%d offers wait", n)
	}
}

// TestFullBudgetRefusesKnownIDsEarly: while the strangers' budget is full, a stranger's
// offer is refused from its first bytes even if its id is one the receiver knows (an
// ended offer's, or another peer's waiting offer's): it is answered without being read,
// so it needs no place in the FrameBudget (which has none for it here).
func TestFullBudgetRefusesKnownIDsEarly(t *testing.T) {
	b := newHost(t, nil)
	rb := newSide(t, b, func(c *Config) {
		c.Policy = AcceptContacts
		c.MaxStrangerOffers = 1
		budget := wire.NewBudget(1, 1<<20) // no place for the large frame below
		c.FrameBudget = func(peer.ID) *wire.Budget { return budget }
	})
	hs := strangers(t, b, 2)
	ended, err := offerAs(t, hs[1], b.ID(), emptyFiles("ended", 2, 20), true)
	if err != nil || ended.Status != StatusPending {
		t.Fatalf("offer: %+v %v", ended, err)
	}
	cancelAs(t, hs[1], b.ID(), ended.ID)
	waiting, err := offerAs(t, hs[0], b.ID(), emptyFiles("fills", 2, 20), true)
	if err != nil || waiting.Status != StatusPending {
		t.Fatalf("the offer that fills the budget: %+v %v", waiting, err)
	}
	big := emptyFiles("big", 5000, 250) // about 1.5 MiB: within a stranger's cap
	for _, id := range []string{ended.ID, waiting.ID} {
		a, err := offerRaw(t, hs[1], b.ID(), AppendOffer(nil, Offer{ID: id, Fresh: true, Manifest: big}))
		if err != nil || a.Status != StatusRejected || !strings.Contains(a.Reason, "too many offers waiting") {
			t.Errorf("a large offer reusing a known id while the budget is full: %+v %v, want refused early", a, err)
		}
	}
	if n := countPending(rb); n != 1 {
		t.Errorf("%d offers wait, want 1", n)
	}
}

// TestTombstonesBounded: the tombstones of ended offers stay at most maxTombstones, in
// memory and in StateDir/expired-offers, however many offers end; and the older file
// (id → time it expired) still reads, as expired offers.
func TestTombstonesBounded(t *testing.T) {
	m := &Manager{ended: map[string]tombstone{}, store: store{dir: t.TempDir()}, log: testLogger(t)}
	for i := range 3 * maxTombstones {
		m.tombstoneLocked(fmt.Sprintf("%032x", i), StateCanceled)
	}
	if n := len(m.ended); n > maxTombstones {
		t.Errorf("%d tombstones in memory, want at most %d", n, maxTombstones)
	}
	m.ended = map[string]tombstone{}
	for i := range maxTombstones { // a full set, of the longest state name
		m.ended[fmt.Sprintf("%032x", i)] = tombstone{At: time.Now(), State: StateCanceled}
	}
	m.saveTombstones()
	if fi, err := os.Stat(m.store.expiredPath()); err == nil {
		t.Logf("StateDir/expired-offers with %d tombstones: %d bytes", len(m.ended), fi.Size())
	}
	if n := len(m.store.loadExpired()); n == 0 || n > maxTombstones {
		t.Errorf("%d tombstones read back, want 1..%d", n, maxTombstones)
	}
	old := `{"` + strings.Repeat("ab", IDLen) + `":"2026-12-01T10:00:00Z"}`
	if err := os.WriteFile(m.store.expiredPath(), []byte(old), 0600); err != nil {
		t.Fatal(err)
	}
	got := m.store.loadExpired()
	if tb, ok := got[strings.Repeat("ab", IDLen)]; !ok || tb.State != StateRejected || tb.At.IsZero() {
		t.Errorf("the older file read as %+v", got)
	}
}
