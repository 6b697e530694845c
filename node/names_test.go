package node

import (
	"crypto/rand"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/archive"
)

func randomPeerID(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := lcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestClaimedNamesNeverReplaceOwnNames: anyone on the LAN can announce any name for
// any peer ID over mDNS. Such a claim names a peer only until the peer states its
// own name (profile or message); a contact is shown under the name it was added
// with rather than a claim, and under its nickname above all.
func TestClaimedNamesNeverReplaceOwnNames(t *testing.T) {
	n := &Node{peers: newPeerTable()}
	n.contacts.load(nil)
	alice, stranger := randomPeerID(t), randomPeerID(t)
	now := time.Now()

	n.peers.observe(stranger, "Bob", ViaMDNS, nil, now)
	if got := n.nameOf(stranger.String()); got != "Bob" {
		t.Fatalf("a stranger known only by a claim: %q, want the claimed Bob", got)
	}
	if !n.peers.learnName(stranger, "Mallory") || n.nameOf(stranger.String()) != "Mallory" {
		t.Fatalf("the name a stranger's own message carried does not replace a claim: %q", n.nameOf(stranger.String()))
	}
	n.peers.observe(stranger, "Bob", ViaMDNS, nil, now)
	if got := n.nameOf(stranger.String()); got != "Mallory" {
		t.Fatalf("after another claim: %q, want Mallory, the name it stated", got)
	}

	n.contacts.put(alice, archive.Contact{PeerID: alice.String(), Name: "Alice", Contact: true})
	n.peers.observe(alice, "Bob", ViaMDNS, nil, now) // someone else speaking for Alice's ID
	if got := n.nameOf(alice.String()); got != "Alice" {
		t.Fatalf("contact Alice with a claim of Bob: shown as %q, want Alice", got)
	}
	if !n.peers.setOwnName(alice, "Alice Smith") {
		t.Fatal("Alice's profile name not recorded")
	}
	n.peers.observe(alice, "Bob", ViaMDNS, nil, now)
	if got := n.nameOf(alice.String()); got != "Alice Smith" {
		t.Fatalf("after Alice's profile and another claim: %q, want Alice Smith", got)
	}
	if n.peers.learnName(alice, "Eve") || n.nameOf(alice.String()) != "Alice Smith" {
		t.Fatal("a message's name replaced the name from the profile")
	}
	n.contacts.put(alice, archive.Contact{PeerID: alice.String(), Name: "Alice", Nickname: "Al", Contact: true})
	if got := n.nameOf(alice.String()); got != "Al" {
		t.Fatalf("with a nickname: %q, want Al", got)
	}
}
