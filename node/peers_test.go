package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func ids(entries []peerEntry) map[peer.ID]bool {
	out := map[peer.ID]bool{}
	for _, e := range entries {
		out[e.id] = true
	}
	return out
}

// TestMDNSClaimsAreNotPeople: a peer only announced by mDNS is not listed, not found by
// name, until it speaks Parley; a static or rendezvous peer is listed at once.
func TestMDNSClaimsAreNotPeople(t *testing.T) {
	tb := newPeerTable()
	now := time.Now()
	fake, real, static := peer.ID("fake"), peer.ID("real"), peer.ID("static")
	if tb.observe(fake, "Alice", ViaMDNS, nil, now) {
		t.Error("an mDNS claim alone reported as a change users would see")
	}
	tb.observe(real, "Bob", ViaMDNS, nil, now)
	tb.observe(static, "", ViaStatic, nil, now)
	if got := ids(tb.people()); got[fake] || got[real] || !got[static] {
		t.Fatalf("people = %v, want only the static peer", got)
	}
	if got := tb.byName("alice"); len(got) != 0 {
		t.Fatalf("byName found an mDNS claim: %v", got)
	}
	if !tb.observe(real, "", ViaInbound, nil, now) {
		t.Error("a claimed peer that speaks Parley is not reported as a new person")
	}
	if got := ids(tb.people()); !got[real] || got[fake] {
		t.Fatalf("after it spoke, people = %v", got)
	}
	if e, _ := tb.get(real); e.via != ViaMDNS {
		t.Errorf("via = %q, want mdns kept", e.via)
	}
}

// TestForgetNeverSpoken: an mDNS-only peer is forgotten forgetAfter after its first
// announcement, even while it keeps being announced; its announcements are then ignored
// until it has been silent as long. A peer that spoke Parley, a contact and a static peer
// stay.
func TestForgetNeverSpoken(t *testing.T) {
	tb := newPeerTable()
	tb.forgetAfter = time.Minute
	contact := peer.ID("contact")
	tb.keep = func(id peer.ID) bool { return id == contact }
	t0 := time.Now()
	fake, spoke, static := peer.ID("fake"), peer.ID("spoke"), peer.ID("static")
	for _, id := range []peer.ID{fake, spoke, contact} {
		tb.observe(id, "", ViaMDNS, nil, t0)
	}
	tb.observe(spoke, "", ViaInbound, nil, t0)
	tb.observe(static, "", ViaStatic, nil, t0)

	tb.observe(fake, "", ViaMDNS, nil, t0.Add(50*time.Second)) // still announced
	if gone := tb.forget(t0.Add(59 * time.Second)); len(gone) != 0 {
		t.Fatalf("forgot %v before the delay", gone)
	}
	gone := tb.forget(t0.Add(time.Minute))
	if len(gone) != 1 || gone[0] != fake {
		t.Fatalf("forgot %v, want only %s", gone, fake)
	}
	for _, id := range []peer.ID{spoke, static, contact} {
		if _, ok := tb.get(id); !ok {
			t.Errorf("%s was forgotten", id)
		}
	}

	// Announced again every 30 s: ignored, however long it goes on.
	at := t0.Add(time.Minute)
	for range 10 {
		at = at.Add(30 * time.Second)
		tb.observe(fake, "", ViaMDNS, nil, at)
		tb.forget(at)
		if _, ok := tb.get(fake); ok {
			t.Fatalf("a forgotten peer came back on an announcement at +%v", at.Sub(t0))
		}
	}
	// Silent for the delay: it may try again.
	at = at.Add(time.Minute)
	tb.forget(at)
	tb.observe(fake, "", ViaMDNS, nil, at)
	if _, ok := tb.get(fake); !ok {
		t.Fatal("a forgotten peer silent for the delay is still refused")
	}
	// A forgotten peer that connects and speaks Parley is a person at once.
	other := peer.ID("other")
	tb.observe(other, "", ViaMDNS, nil, at)
	tb.forget(at.Add(time.Minute))
	tb.observe(other, "", ViaInbound, nil, at.Add(time.Minute))
	if e, ok := tb.get(other); !ok || !e.person() {
		t.Fatal("a forgotten peer that spoke Parley is not listed")
	}
}

// TestPeerTableCap: the table holds at most max entries. A flood of mDNS claims evicts
// only older claims, never a person or a contact; a person evicts claims first, then the
// person offline longest, never a contact, a static or a connected peer.
func TestPeerTableCap(t *testing.T) {
	tb := newPeerTable()
	tb.max = 10
	contact := peer.ID("contact")
	tb.keep = func(id peer.ID) bool { return id == contact }
	t0 := time.Now()
	tb.observe(contact, "", ViaMDNS, nil, t0)
	tb.observe(peer.ID("static"), "", ViaStatic, nil, t0)
	for i := range 3 {
		id := peer.ID(fmt.Sprint("person", i))
		tb.observe(id, "", ViaInbound, nil, t0.Add(time.Duration(i)*time.Second))
	}
	tb.setOnline(peer.ID("person0"), true) // connected: also refreshes its lastSeen
	for i := range 2000 {
		tb.observe(peer.ID(fmt.Sprint("fake", i)), "", ViaMDNS, nil, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(tb.all()); n != 10 {
		t.Fatalf("%d entries after 2000 claims, want the cap of 10", n)
	}
	if got := ids(tb.people()); len(got) != 4 || !got["static"] || !got["person0"] {
		t.Fatalf("people after the flood: %v", got)
	}
	all := ids(tb.all())
	if !all[contact] || !all["fake1999"] || all["fake0"] {
		t.Fatalf("after the flood: %v, want the contact and the newest claims", all)
	}

	// Persons arriving push out the claims, then the person offline longest.
	for i := range 6 {
		tb.observe(peer.ID(fmt.Sprint("new", i)), "", ViaInbound, nil, t0.Add(time.Hour))
	}
	all = ids(tb.all())
	if len(all) != 10 || all["person1"] || !all["person2"] || !all["person0"] || !all[contact] || !all["static"] {
		t.Fatalf("after 6 new persons: %v, want person1 (offline longest) and every claim gone", all)
	}
}

// TestVouchedPeerStaysListed: a peer a rendezvous server named stays listed when an mDNS
// answer for it comes next, though it has not connected.
func TestVouchedPeerStaysListed(t *testing.T) {
	tb := newPeerTable()
	id, now := peer.ID("both"), time.Now()
	tb.observe(id, "", ViaRendezvous, nil, now)
	tb.observe(id, "Ann", ViaMDNS, nil, now)
	if got := ids(tb.people()); !got[id] {
		t.Fatal("a rendezvous peer vanished from the list on an mDNS answer")
	}
	if gone := tb.forget(now.Add(time.Hour)); len(gone) != 0 {
		t.Fatalf("forgot %v", gone)
	}
}

// TestShortForgetStillIgnoresEveryRound: with a delay shorter than the browse period (as in
// tests), a forgotten peer answered every 5 s stays ignored: silence is counted in rounds.
func TestShortForgetStillIgnoresEveryRound(t *testing.T) {
	tb := newPeerTable()
	tb.forgetAfter = 3 * time.Second
	fake, start := peer.ID("fake"), time.Now()
	at := start
	tb.observe(fake, "", ViaMDNS, nil, at)
	for range 20 {
		at = at.Add(5 * time.Second)
		tb.forget(at)
		tb.observe(fake, "", ViaMDNS, nil, at)
		if _, ok := tb.get(fake); ok {
			t.Fatalf("learned again at +%v", at.Sub(start))
		}
	}
}
