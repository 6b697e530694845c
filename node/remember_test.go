package node

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func realID(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := lcrypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestAddrMemoryRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), rememberFileName)
	m, err := loadAddrMemory(path, func(peer.ID) bool { return false })
	if err != nil || len(m.list()) != 0 {
		t.Fatalf("missing file: %v, %v", err, m.list())
	}
	id := realID(t)
	m.note(id, []ma.Multiaddr{ma.StringCast("/ip4/198.18.51.2/tcp/4747")}, time.Now())
	m.note(id, []ma.Multiaddr{ma.StringCast("/ip4/198.18.51.2/udp/4747/quic-v1")}, time.Now())
	if err := m.save(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file: %v %v", fi, err)
	}
	// A hand-edited loopback address is dropped on load.
	b, _ := os.ReadFile(path)
	b = []byte(strings.Replace(string(b), `"addrs": [`, `"addrs": ["/ip4/127.0.0.1/tcp/1",`, 1))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m2, err := loadAddrMemory(path, func(peer.ID) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	got := m2.list()
	if len(got) != 1 || got[0].ID != id || len(got[0].Addrs) != 2 {
		t.Fatalf("loaded %v", got)
	}
	if got[0].Addrs[0].String() != "/ip4/198.18.51.2/udp/4747/quic-v1" {
		t.Errorf("newest address not first: %v", got[0].Addrs)
	}
}

func TestAddrMemoryBounds(t *testing.T) {
	contact := peer.ID("contact")
	m, _ := loadAddrMemory(filepath.Join(t.TempDir(), rememberFileName), func(id peer.ID) bool { return id == contact })
	t0 := time.Now()
	m.note(contact, []ma.Multiaddr{ma.StringCast("/ip4/198.18.0.1/tcp/1")}, t0) // the oldest of all
	var many []ma.Multiaddr
	for i := range 20 {
		many = append(many, ma.StringCast("/ip4/198.18.0.2/tcp/"+itoa(i+1)))
	}
	for i := range 2 * maxRemembered {
		m.note(peer.ID("p"+itoa(i)), many, t0.Add(time.Duration(i+1)*time.Second))
	}
	all := m.list()
	if len(all) != maxRemembered {
		t.Fatalf("%d peers remembered, cap %d", len(all), maxRemembered)
	}
	seenContact := false
	for _, ai := range all {
		seenContact = seenContact || ai.ID == contact
		if len(ai.Addrs) > maxRememberedAddrs {
			t.Fatalf("%d addresses for %s", len(ai.Addrs), ai.ID)
		}
	}
	if !seenContact {
		t.Error("the contact was evicted before strangers")
	}
}

func TestAddrMemoryBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), rememberFileName)
	for _, content := range []string{"not json", `{"version":2,"peers":[]}`} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := loadAddrMemory(path, func(peer.ID) bool { return false })
		if err == nil || m == nil || len(m.list()) != 0 {
			t.Errorf("%q: %v", content, err)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
