package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
)

// TestImpersonationFlaggedNeverMerged: Ann has Bob as a contact; another peer, with its
// own key, also calls itself Bob. Ann's node flags it (peers and contacts show a
// warning), `send Bob` still goes to the real Bob, and the impostor's messages lose
// the forged name.
func TestImpersonationFlaggedNeverMerged(t *testing.T) {
	ann, bob := pair(t)
	ctx := context.Background()
	if _, err := ann.AddContact(ctx, api.ContactRequest{Peer: "Bob"}); err != nil {
		t.Fatal(err)
	}
	fake := startNode(t, "Bob", fullAddr(ann))
	waitUntil(t, "Ann to see the second Bob", func() bool {
		p, ok := peerByID(ann.Peers(), fake.ID().String())
		return ok && p.Name == "Bob"
	})
	real, _ := peerByID(ann.Peers(), bob.ID().String())
	impostor, _ := peerByID(ann.Peers(), fake.ID().String())
	if real.Warning != "" || !strings.Contains(impostor.Warning, "impersonation") {
		t.Fatalf("warnings: real Bob %q, impostor %q", real.Warning, impostor.Warning)
	}
	if real.DisplayName != "Bob" || impostor.DisplayName != "Bob" {
		t.Fatalf("display names: real %q, impostor %q; the warning, not the name, tells them apart", real.DisplayName, impostor.DisplayName)
	}
	cs, err := ann.Contacts(ctx)
	if err != nil || len(cs) != 1 || !strings.Contains(cs[0].Warning, fake.ID().String()) {
		t.Fatalf("contact Bob should warn about %s: %+v, %v", fake.ID(), cs, err)
	}
	res, err := ann.Send(ctx, "bob", "to the real one")
	if err != nil || res.Message.To != bob.ID().String() {
		t.Fatalf("send Bob: %+v, %v; want the pinned contact %s", res.Message, err, bob.ID())
	}
	if _, err := fake.Send(ctx, "Ann", "it is me, Bob"); err != nil {
		t.Fatal(err)
	}
	fromFake := 0
	for _, m := range mustHistory(t, ann) {
		if m.From == fake.ID().String() {
			fromFake++
			if m.FromName != "" {
				t.Fatalf("the impostor's message kept the forged name %q", m.FromName)
			}
			if !strings.Contains(m.FromWarning, "impersonation") {
				t.Fatalf("the impostor's message (shown as %q) carries no warning: %+v", m.FromDisplay, m)
			}
		}
	}
	if fromFake != 1 {
		t.Fatalf("%d messages from the impostor in Ann's archive, want 1", fromFake)
	}
}

func peerByID(peers []api.Peer, id string) (api.Peer, bool) {
	for _, p := range peers {
		if p.PeerID == id {
			return p, true
		}
	}
	return api.Peer{}, false
}

// TestVerification: both sides compute the same safety number from crossed
// fingerprints; Verify marks a contact and refuses a peer that is not one.
func TestVerification(t *testing.T) {
	ann, bob := pair(t)
	ctx := context.Background()
	va, err := ann.Verification(ctx, "Bob")
	if err != nil {
		t.Fatal(err)
	}
	vb, err := bob.Verification(ctx, "Ann")
	if err != nil {
		t.Fatal(err)
	}
	if va.SafetyNumber != vb.SafetyNumber || len(strings.ReplaceAll(va.SafetyNumber, " ", "")) != 60 {
		t.Fatalf("safety numbers %q and %q; want the same 60 digits", va.SafetyNumber, vb.SafetyNumber)
	}
	if va.Ours != ann.Status().Fingerprint || va.Fingerprint != bob.Status().Fingerprint || vb.Fingerprint != va.Ours {
		t.Fatalf("fingerprints not crossed: %+v / %+v", va, vb)
	}
	if _, err := bob.Verify(ctx, "Ann"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("verifying a peer that is not a contact: %v, want ErrNotFound", err)
	}
	if _, err := ann.AddContact(ctx, api.ContactRequest{Peer: "Bob"}); err != nil {
		t.Fatal(err)
	}
	v, err := ann.Verify(ctx, "Bob")
	if err != nil || !v.Verified || v.SafetyNumber != va.SafetyNumber {
		t.Fatalf("Verify: %+v, %v", v, err)
	}
	cs, _ := ann.Contacts(ctx)
	if len(cs) != 1 || !cs[0].Verified {
		t.Fatalf("contacts after Verify: %+v", cs)
	}
	if again, _ := ann.Verification(ctx, "Bob"); !again.Verified {
		t.Fatal("Verification does not report the mark")
	}
	if _, err := ann.Verification(ctx, ann.ID().String()); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("verifying yourself: %v", err)
	}
}

// TestWarningsIgnoreUnnamedPeers: a contact with no nickname is not impersonated by
// every peer whose name is not known yet, nor by an mDNS claim from a peer that never
// spoke Parley; and a contact is nobody's impostor.
func TestWarningsIgnoreUnnamedPeers(t *testing.T) {
	n := &Node{peers: newPeerTable()}
	bob, stranger, unnamed := peer.ID("bob"), peer.ID("stranger"), peer.ID("unnamed")
	n.contacts.load(nil)
	n.contacts.put(bob, archive.Contact{PeerID: bob.String(), Name: "Bob", Contact: true})
	n.peers.observe(bob, "Bob", ViaStatic, nil, time.Now())
	n.peers.observe(unnamed, "", ViaInbound, nil, time.Now())
	c, _ := n.contacts.get(bob)
	if w := n.contactWarning(bob, c); w != "" {
		t.Fatalf("warning with only an unnamed peer around: %q", w)
	}
	if n.peerWarning(unnamed, "") != "" || n.peerWarning(bob, "Bob") != "" {
		t.Fatal("an unnamed peer or the contact itself is flagged")
	}
	n.peers.observe(stranger, "bob", ViaMDNS, nil, time.Now())
	if w := n.contactWarning(bob, c); w != "" {
		t.Fatalf("an mDNS claim alone, from a peer that never spoke Parley, flags the contact: %q", w)
	}
	n.peers.observe(stranger, "", ViaInbound, nil, time.Now()) // it connects and speaks Parley
	if w := n.contactWarning(bob, c); !strings.Contains(w, stranger.String()) {
		t.Fatalf("contact warning %q does not name the impostor", w)
	}
	if w := n.peerWarning(stranger, "bob"); !strings.Contains(w, "impersonation") {
		t.Fatalf("impostor warning %q", w)
	}
}
