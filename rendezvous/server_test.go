package rendezvous

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// newHost starts a libp2p host on 127.0.0.1 only (TCP), with key or a fresh one.
func newHost(tb testing.TB, key crypto.PrivKey, listen string) host.Host {
	tb.Helper()
	if key == nil {
		key = newKey(tb)
	}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings(listen), libp2p.DisableRelay())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

func newKey(tb testing.TB) crypto.PrivKey {
	tb.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// testConfig has the short TTLs the tests need.
func testConfig() ServerConfig {
	return ServerConfig{MinTTL: time.Second, PurgeInterval: 200 * time.Millisecond}
}

func startServer(tb testing.TB, cfg ServerConfig) (*Server, peer.AddrInfo) {
	tb.Helper()
	h := newHost(tb, nil, "/ip4/127.0.0.1/tcp/0")
	s := NewServer(h, cfg)
	tb.Cleanup(func() { s.Close() })
	return s, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
}

func newClient(tb testing.TB, server peer.AddrInfo) *Client {
	tb.Helper()
	return NewClient(newHost(tb, nil, "/ip4/127.0.0.1/tcp/0"), server)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ids(peers []peer.AddrInfo) map[peer.ID]peer.AddrInfo {
	m := make(map[peer.ID]peer.AddrInfo)
	for _, p := range peers {
		m[p.ID] = p
	}
	return m
}

func wantStatus(t *testing.T, err error, want Status) {
	t.Helper()
	var se *StatusError
	if !errors.As(err, &se) || se.Status != want {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func TestRegisterDiscoverUnregister(t *testing.T) {
	ctx := testCtx(t)
	srv, info := startServer(t, testConfig())
	a, b := newClient(t, info), newClient(t, info)

	ttl, err := a.Register(ctx, "parley", 0)
	if err != nil || ttl != 60*time.Second {
		t.Fatalf("register: ttl %v, err %v", ttl, err)
	}
	if ttl, err := b.Register(ctx, "parley", 30*time.Second); err != nil || ttl != 30*time.Second {
		t.Fatalf("register b: ttl %v, err %v", ttl, err)
	}
	peers, cookie, err := b.Discover(ctx, "parley", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := ids(peers)
	if len(got) != 2 || len(cookie) != cookieLen {
		t.Fatalf("discovered %v, cookie %x", peers, cookie)
	}
	if addrs := got[a.host.ID()].Addrs; len(addrs) == 0 || !ma.Contains(a.host.Addrs(), addrs[0]) {
		t.Errorf("a's addresses %v, want those of %v", addrs, a.host.Addrs())
	}
	if peers, _, _ := b.Discover(ctx, "other", 0, nil); len(peers) != 0 {
		t.Errorf("namespace other holds %v", peers)
	}

	if err := a.Unregister(ctx, "parley"); err != nil {
		t.Fatal(err)
	}
	peers, _, err = b.Discover(ctx, "parley", 0, nil)
	if err != nil || len(peers) != 1 || peers[0].ID != b.host.ID() {
		t.Fatalf("after unregister: %v, %v", peers, err)
	}
	st := srv.Stats()
	if st.Registrations != 1 || st.Registers != 2 || st.Unregisters != 1 || st.Discovers != 3 || st.Rejected != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestTTLExpiry(t *testing.T) {
	ctx := testCtx(t)
	srv, info := startServer(t, testConfig())
	a, b := newClient(t, info), newClient(t, info)
	if ttl, err := a.Register(ctx, "parley", time.Second); err != nil || ttl != time.Second {
		t.Fatalf("register: %v, %v", ttl, err)
	}
	if peers, _, _ := b.Discover(ctx, "parley", 0, nil); len(peers) != 1 {
		t.Fatalf("before expiry: %v", peers)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		peers, _, err := b.Discover(ctx, "parley", 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(peers) == 0 && srv.Stats().Registrations == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still registered 5 s after a 1 s TTL: %v, stats %+v", peers, srv.Stats())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if srv.Stats().Expired != 1 {
		t.Errorf("stats %+v", srv.Stats())
	}
	for _, ttl := range []time.Duration{time.Hour, 500 * time.Millisecond} {
		_, err := a.Register(ctx, "parley", ttl)
		if ttl < time.Second && err == nil {
			continue // rounds down to 0 seconds: the server's default
		}
		wantStatus(t, err, StatusInvalidTTL)
	}
}

// insert registers n fresh identities in ns directly in the server's store.
func insert(tb testing.TB, s *Server, ns string, n int) {
	tb.Helper()
	for i := range n {
		key := newKey(tb)
		id, _ := peer.IDFromPrivateKey(key)
		addr := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
		rec, err := signRecord(key, peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{addr}})
		if err != nil {
			tb.Fatal(err)
		}
		r := &registration{peer: id, ns: ns, record: rec, ip: "192.0.2.1", expires: time.Now().Add(time.Hour)}
		if err := s.store.add(r, quota{}); err != nil {
			tb.Fatalf("insert %d: %v", i, err)
		}
	}
}

func TestPagingWithCookies(t *testing.T) {
	ctx := testCtx(t)
	srv, info := startServer(t, testConfig())
	insert(t, srv, "parley", 25)
	c := newClient(t, info)

	seen := make(map[peer.ID]bool)
	var cookie []byte
	var pages []int
	for range 10 {
		peers, next, err := c.Discover(ctx, "parley", 10, cookie)
		if err != nil {
			t.Fatal(err)
		}
		if len(peers) == 0 {
			break
		}
		pages = append(pages, len(peers))
		for _, p := range peers {
			if seen[p.ID] {
				t.Fatalf("%s returned twice", p.ID)
			}
			seen[p.ID] = true
		}
		cookie = next
	}
	if len(seen) != 25 || len(pages) != 3 || pages[0] != 10 || pages[2] != 5 {
		t.Fatalf("pages %v, %d peers", pages, len(seen))
	}
	// Polling with the last cookie returns only what is new.
	if _, err := c.Register(ctx, "parley", 0); err != nil {
		t.Fatal(err)
	}
	peers, _, err := c.Discover(ctx, "parley", 10, cookie)
	if err != nil || len(peers) != 1 || peers[0].ID != c.host.ID() {
		t.Fatalf("after the last page: %v, %v", peers, err)
	}
	_, _, err = c.Discover(ctx, "parley", 10, []byte("not a cookie"))
	wantStatus(t, err, StatusInvalidCookie)
	// A cookie from an earlier run of the server starts over.
	stale := append([]byte{}, cookie...)
	stale[0] ^= 0xff
	if peers, _, err := c.Discover(ctx, "parley", 100, stale); err != nil || len(peers) != 26 {
		t.Fatalf("with a stale cookie: %d peers, %v", len(peers), err)
	}
}

func TestRecordOfAnotherKeyRejected(t *testing.T) {
	ctx := testCtx(t)
	srv, info := startServer(t, testConfig())
	a := newClient(t, info)
	other := newKey(t)
	otherID, _ := peer.IDFromPrivateKey(other)
	addrs := a.host.Addrs()

	// Another peer's own record, replayed by a.
	replayed, _ := signRecord(other, peer.AddrInfo{ID: otherID, Addrs: addrs})
	// A record claiming a's ID, signed by another key.
	forged, _ := signRecord(other, peer.AddrInfo{ID: a.host.ID(), Addrs: addrs})
	for name, rec := range map[string][]byte{"replayed": replayed, "forged": forged} {
		_, err := rawRegister(ctx, a, Register{Namespace: "parley", SignedPeerRecord: rec})
		if err == nil {
			t.Fatalf("%s record accepted", name)
		}
		wantStatus(t, err, StatusNotAuthorized)
	}
	_, err := rawRegister(ctx, a, Register{Namespace: "parley", SignedPeerRecord: []byte("garbage")})
	wantStatus(t, err, StatusInvalidSignedPeerRecord)
	if st := srv.Stats(); st.Registrations != 0 || st.Rejected != 3 {
		t.Errorf("stats %+v", st)
	}
}

// rawRegister sends a REGISTER as given, bypassing the client's checks.
func rawRegister(ctx context.Context, c *Client, r Register) (RegisterResponse, error) {
	resp, err := c.roundTrip(ctx, Message{Type: TypeRegister, Register: r}, TypeRegisterResponse)
	if err != nil {
		return RegisterResponse{}, err
	}
	rr := resp.RegisterResponse
	if rr.Status != StatusOK {
		return rr, &StatusError{rr.Status, rr.StatusText}
	}
	return rr, nil
}

func TestOversizedNamespaceRejected(t *testing.T) {
	ctx := testCtx(t)
	_, info := startServer(t, testConfig())
	c := newClient(t, info)
	rec, err := c.SignedRecord()
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", MaxNamespaceLen+1)
	_, err = rawRegister(ctx, c, Register{Namespace: long, SignedPeerRecord: rec})
	wantStatus(t, err, StatusInvalidNamespace)
	_, err = rawRegister(ctx, c, Register{Namespace: "", SignedPeerRecord: rec})
	wantStatus(t, err, StatusInvalidNamespace)
	resp, err := c.roundTrip(ctx, Message{Type: TypeDiscover, Discover: Discover{Namespace: long}}, TypeDiscoverResponse)
	if err != nil || resp.DiscoverResponse.Status != StatusInvalidNamespace {
		t.Fatalf("discover with a long namespace: %+v, %v", resp.DiscoverResponse, err)
	}
	if _, err := c.Register(ctx, long[1:], 0); err != nil {
		t.Fatalf("namespace of %d bytes: %v", MaxNamespaceLen, err)
	}
}

func TestMalformedResetsStream(t *testing.T) {
	ctx := testCtx(t)
	srv, info := startServer(t, testConfig())
	bad, good := newClient(t, info), newClient(t, info)
	inputs := map[string][]byte{
		"unknown type":      {0x02, 0x08, 0x09},
		"truncated varint":  {0x03, 0x08, 0x00, 0x12},
		"oversized length":  {0xff, 0xff, 0x7f},
		"response as query": AppendMessage(nil, Message{Type: TypeRegisterResponse}),
	}
	for name, in := range inputs {
		st, err := bad.open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := st.Write(in); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(st); err == nil {
			t.Errorf("%s: stream ended cleanly, want a reset", name)
		}
		st.Reset()
	}
	if _, err := good.Register(ctx, "parley", 0); err != nil {
		t.Fatalf("server stopped serving others: %v", err)
	}
	if peers, _, err := good.Discover(ctx, "parley", 0, nil); err != nil || len(peers) != 1 {
		t.Fatalf("discover after malformed input: %v, %v", peers, err)
	}
	if st := srv.Stats(); st.Malformed != uint64(len(inputs)) {
		t.Errorf("stats %+v", st)
	}
}

func TestFloodRateLimited(t *testing.T) {
	ctx := testCtx(t)
	cfg := testConfig()
	cfg.RequestsPerSecond, cfg.Burst = 0.2, 5
	srv, info := startServer(t, cfg)
	flooder, other := newClient(t, info), newClient(t, info)
	var ok, limited int
	for range 40 {
		_, err := flooder.Register(ctx, "parley", 0)
		var se *StatusError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &se) && se.Status == StatusUnavailable:
			limited++
		default:
			t.Fatal(err)
		}
	}
	if ok < 5 || ok > 8 || limited < 32 {
		t.Errorf("%d accepted, %d rate-limited of 40", ok, limited)
	}
	if _, err := other.Register(ctx, "parley", 0); err != nil {
		t.Fatalf("another peer during the flood: %v", err)
	}
	if peers, _, err := other.Discover(ctx, "parley", 0, nil); err != nil || len(peers) != 2 {
		t.Fatalf("discover: %v, %v", peers, err)
	}
	if st := srv.Stats(); st.RateLimited != uint64(limited) || st.Registrations != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestQuotas(t *testing.T) {
	ctx := testCtx(t)
	cfg := testConfig()
	cfg.MaxPerPeer, cfg.MaxPerIP = 2, 3
	_, info := startServer(t, cfg)
	a, b, c := newClient(t, info), newClient(t, info), newClient(t, info)
	for _, ns := range []string{"one", "two"} {
		if _, err := a.Register(ctx, ns, 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err := a.Register(ctx, "three", 0)
	wantStatus(t, err, StatusUnavailable)
	if _, err := a.Register(ctx, "two", 0); err != nil {
		t.Fatalf("refresh within the quota: %v", err)
	}
	if _, err := b.Register(ctx, "one", 0); err != nil {
		t.Fatal(err)
	}
	// a holds two and b one, all from 127.0.0.1.
	_, err = c.Register(ctx, "one", 0)
	wantStatus(t, err, StatusUnavailable)
	if err := a.Unregister(ctx, "two"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, "one", 0); err != nil {
		t.Fatalf("after a freed a slot: %v", err)
	}
}

func TestKeeperReregistersAfterRestart(t *testing.T) {
	ctx := testCtx(t)
	key := newKey(t)
	h1 := newHost(t, key, "/ip4/127.0.0.1/tcp/0")
	srv1 := NewServer(h1, testConfig())
	info := peer.AddrInfo{ID: h1.ID(), Addrs: h1.Addrs()}

	a := newClient(t, info)
	k := a.Keep("parley", 30*time.Second, nil)
	defer k.Close()
	waitFor(t, 5*time.Second, "first registration", func() bool { return k.Status().Registrations >= 1 })
	if st := k.Status(); st.TTL != 30*time.Second || !st.Registered {
		t.Fatalf("status %+v", st)
	}

	srv1.Close()
	h1.Close()
	time.Sleep(200 * time.Millisecond)
	h2 := restartHost(t, key, info.Addrs[0])
	srv2 := NewServer(h2, testConfig())
	defer srv2.Close()

	b := newClient(t, info)
	waitFor(t, 15*time.Second, "a registered again with the restarted server", func() bool {
		peers, _, err := b.Discover(ctx, "parley", 0, nil)
		return err == nil && len(peers) == 1 && peers[0].ID == a.host.ID()
	})
	k.Close()
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
}

// restartHost brings a host up again with key on addr, retrying while the port is
// still held.
func restartHost(t *testing.T, key crypto.PrivKey, addr ma.Multiaddr) host.Host {
	t.Helper()
	var err error
	for range 50 {
		var h host.Host
		h, err = libp2p.New(libp2p.Identity(key), libp2p.ListenAddrs(addr), libp2p.DisableRelay())
		if err == nil {
			t.Cleanup(func() { h.Close() })
			return h
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("restart on %s: %v", addr, err)
	return nil
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A Keeper keeps a running node discoverable past its TTL; once it stops, the node is
// gone from DISCOVER within the TTL, and the Keeper's goroutine with it.
func TestKeeperRefreshesAndLapses(t *testing.T) {
	ctx := testCtx(t)
	_, info := startServer(t, testConfig())
	a, b := newClient(t, info), newClient(t, info)
	k := a.Keep("parley", 2*time.Second, nil)
	defer k.Close()
	present := func() bool {
		peers, _, err := b.Discover(ctx, "parley", 0, nil)
		return err == nil && len(peers) == 1
	}
	waitFor(t, 5*time.Second, "first registration", present)
	end := time.Now().Add(3 * time.Second)
	for time.Now().Before(end) {
		if !present() {
			t.Fatalf("registration lapsed while the Keeper runs: %+v", k.Status())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := k.Status().Registrations; n < 3 {
		t.Errorf("%d registrations in 3 s with a 2 s TTL", n)
	}
	k.Close()
	if strings.Contains(allStacks(), "(*Keeper).run") {
		t.Error("Keeper goroutine still running after Close")
	}
	waitFor(t, 4*time.Second, "the registration to lapse", func() bool { return !present() })
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
