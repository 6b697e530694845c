package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	relayclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-im/parley/rendezvous"
	"github.com/parley-im/parley/stun"
)

// testServer is one RunRendezvous in a goroutine of the test.
type testServer struct {
	home   string
	info   RendezvousInfo
	cancel context.CancelFunc
	done   chan error
	ended  bool
}

// startRendezvous runs a server for o.Home (a new temp dir if empty) on loopback only
// and waits until it is ready. It is stopped at cleanup if the test did not stop it.
func startRendezvous(t *testing.T, o RendezvousOptions) *testServer {
	t.Helper()
	if o.Home == "" {
		o.Home = t.TempDir()
	}
	o.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	if o.STUN == "" {
		o.STUN = "127.0.0.1:0"
	}
	if o.Metrics == "" {
		o.Metrics = "127.0.0.1:0"
	}
	s := &testServer{home: o.Home, done: make(chan error, 1)}
	ready := make(chan struct{})
	o.Ready = func(in RendezvousInfo) {
		s.info = in
		close(ready)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- RunRendezvous(ctx, o) }()
	t.Cleanup(func() {
		if !s.ended {
			s.stop(t)
		}
	})
	select {
	case <-ready:
	case err := <-s.done:
		s.ended = true
		t.Fatalf("RunRendezvous ended before it was ready: %v", err)
	case <-time.After(startWait):
		t.Fatal("the rendezvous server was not ready in time")
	}
	return s
}

func (s *testServer) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	s.ended = true
	select {
	case err := <-s.done:
		return err
	case <-time.After(stopWait):
		t.Fatal("RunRendezvous did not return after its context was canceled")
		return nil
	}
}

// addrInfo is the server's first address as a client would be given it.
func (s *testServer) addrInfo(t *testing.T) peer.AddrInfo {
	t.Helper()
	if len(s.info.Addrs) == 0 {
		t.Fatal("the server gave no addresses")
	}
	ai, err := peer.AddrInfoFromString(s.info.Addrs[0])
	if err != nil {
		t.Fatalf("address %q: %v", s.info.Addrs[0], err)
	}
	return *ai
}

// clientHost is an in-process libp2p host on loopback TCP, closed at cleanup.
func clientHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestRendezvousRegisterAndDiscover(t *testing.T) {
	s := startRendezvous(t, RendezvousOptions{})
	if s.info.PeerID == "" || !s.info.Created {
		t.Errorf("info = %+v, want a peer ID and a new identity", s.info)
	}
	for _, a := range s.info.Addrs {
		if !strings.HasSuffix(a, "/p2p/"+s.info.PeerID) {
			t.Errorf("address %q does not end in /p2p/%s", a, s.info.PeerID)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startWait)
	defer cancel()
	alice, bob := clientHost(t), clientHost(t)
	if _, err := rendezvous.NewClient(alice, s.addrInfo(t)).Register(ctx, "parley", 0); err != nil {
		t.Fatalf("register: %v", err)
	}
	peers, _, err := rendezvous.NewClient(bob, s.addrInfo(t)).Discover(ctx, "parley", 10, nil)
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	if len(peers) != 1 || peers[0].ID != alice.ID() {
		t.Fatalf("discovered %v, want only %s", peers, alice.ID())
	}
}

func TestRendezvousHealthAndMetrics(t *testing.T) {
	s := startRendezvous(t, RendezvousOptions{Relay: true})
	ctx, cancel := context.WithTimeout(context.Background(), startWait)
	defer cancel()
	if _, err := rendezvous.NewClient(clientHost(t), s.addrInfo(t)).Register(ctx, "parley", 0); err != nil {
		t.Fatalf("register: %v", err)
	}

	body := get(t, "http://"+s.info.Metrics+"/healthz")
	var h Health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/healthz is not JSON: %v\n%s", err, body)
	}
	if h.Status != "ok" || h.PeerID != s.info.PeerID || h.Rendezvous.Registrations != 1 || h.STUN == nil || !h.Relay {
		t.Errorf("/healthz = %+v", h)
	}

	body = get(t, "http://"+s.info.Metrics+"/metrics")
	for _, want := range []string{
		"# TYPE parley_rendezvous_registrations gauge\nparley_rendezvous_registrations 1\n",
		"parley_rendezvous_registers_total 1\n",
		"# TYPE parley_stun_answered_total counter\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

func TestRendezvousAnswersSTUN(t *testing.T) {
	s := startRendezvous(t, RendezvousOptions{})
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), startWait)
	defer cancel()
	mapped, err := stun.Mapped(ctx, pc, s.info.STUN)
	if err != nil {
		t.Fatalf("STUN against the server: %v", err)
	}
	if mapped.String() != pc.LocalAddr().String() {
		t.Errorf("mapped %v, want %v", mapped, pc.LocalAddr())
	}
}

func TestRendezvousRelaysWithItsLimits(t *testing.T) {
	s := startRendezvous(t, RendezvousOptions{Relay: true, RelayDuration: 90 * time.Second, RelayData: 1 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), startWait)
	defer cancel()
	alice, bob := relayHost(t), relayHost(t)
	rsvp, err := relayclient.Reserve(ctx, alice, s.addrInfo(t))
	if err != nil {
		t.Fatalf("reserve a slot on a loopback relay: %v", err)
	}
	if rsvp.LimitDuration != 90*time.Second || rsvp.LimitData != 1<<20 {
		t.Errorf("reservation limits %v and %d bytes, want 90s and 1 MiB", rsvp.LimitDuration, rsvp.LimitData)
	}
	if len(rsvp.Addrs) == 0 {
		t.Error("the reservation offers no relay addresses (the default filter keeps only public ones)")
	}
	circuit, err := ma.NewMultiaddr(s.info.Addrs[0] + "/p2p-circuit")
	if err != nil {
		t.Fatal(err)
	}
	alice.SetStreamHandler("/test/hello", func(st network.Stream) {
		st.Write([]byte("hi"))
		st.Close()
	})
	if err := bob.Connect(ctx, peer.AddrInfo{ID: alice.ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("connect through the relay: %v", err)
	}
	st, err := bob.NewStream(network.WithAllowLimitedConn(ctx, "test"), alice.ID(), "/test/hello")
	if err != nil {
		t.Fatalf("stream over the relayed connection: %v", err)
	}
	defer st.Close()
	if !st.Conn().Stat().Limited {
		t.Error("the connection is not a limited (relayed) one")
	}
	got, err := io.ReadAll(st)
	if err != nil || string(got) != "hi" {
		t.Errorf("read %q, %v through the relay, want \"hi\"", got, err)
	}
}

// relayHost is clientHost with the circuit relay transport, closed at cleanup.
func relayHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.EnableRelay(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestRendezvousOffParts(t *testing.T) {
	s := startRendezvous(t, RendezvousOptions{STUN: Off, Metrics: Off})
	if s.info.STUN != "" || s.info.Metrics != "" || s.info.Relay {
		t.Errorf("info = %+v, want no STUN, metrics or relay", s.info)
	}
}

func TestSecondRendezvousOnTheSameHomeFails(t *testing.T) {
	first := startRendezvous(t, RendezvousOptions{})
	err := RunRendezvous(context.Background(), RendezvousOptions{
		Home: first.home, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, STUN: Off, Metrics: Off,
	})
	if !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), first.home) {
		t.Fatalf("second RunRendezvous = %v, want ErrAlreadyRunning naming the home", err)
	}
}

func TestRendezvousKeepsItsIdentity(t *testing.T) {
	home := t.TempDir()
	s := startRendezvous(t, RendezvousOptions{Home: home})
	id := s.info.PeerID
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	s = startRendezvous(t, RendezvousOptions{Home: home})
	if s.info.PeerID != id || s.info.Created {
		t.Errorf("restart: peer ID %s (created %v), want %s again", s.info.PeerID, s.info.Created, id)
	}
}

func TestRendezvousBadAddressFailsAndUnlocks(t *testing.T) {
	home := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	err = RunRendezvous(context.Background(), RendezvousOptions{
		Home: home, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, STUN: "127.0.0.1:0", Metrics: taken.Addr().String(),
	})
	if err == nil || !strings.Contains(err.Error(), "--metrics") {
		t.Fatalf("RunRendezvous with a taken metrics port = %v, want an error naming --metrics", err)
	}
	assertUnlocked(t, home)
}

func TestRendezvousStopsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	home := t.TempDir()
	s := startRendezvous(t, RendezvousOptions{Home: home, Relay: true})
	get(t, "http://"+s.info.Metrics+"/healthz")
	if err := s.stop(t); err != nil {
		t.Fatalf("RunRendezvous after cancel = %v, want nil", err)
	}
	assertUnlocked(t, home)
	http.DefaultClient.CloseIdleConnections()
	after := settledGoroutines(before)
	if after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left behind by RunRendezvous (%d before, %d after):\n%s",
			after-before, before, after, buf[:runtime.Stack(buf, true)])
	}
}
