package transfer

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// Generous bounds for things that take milliseconds on an idle machine and seconds on a
// loaded CI runner under the race detector. No test asserts on timing.
const waitLimit = 90 * time.Second

// TestMain fails the package if its tests, all done, leave goroutines behind.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	fuzzing := flag.Lookup("test.fuzz").Value.String() != "" // the fuzz engine keeps a signal goroutine
	if after := settledGoroutines(before); code == 0 && !fuzzing && after > before {
		buf := make([]byte, 1<<20)
		fmt.Fprintf(os.Stderr, "%d goroutines left behind by the tests:\n%s", after-before, buf[:runtime.Stack(buf, true)])
		code = 1
	}
	os.Exit(code)
}

func settledGoroutines(target int) int {
	deadline := time.Now().Add(10 * time.Second)
	n := runtime.NumGoroutine()
	for n > target && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// newKey makes a libp2p identity, so a test can restart a side under the same peer ID.
func newKey(t testing.TB) lcrypto.PrivKey {
	t.Helper()
	k, _, err := lcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newHost is a libp2p host on loopback only, configured like the node's (TLS then
// Noise, yamux), without relay, mDNS or port mapping.
func newHost(t testing.TB, key lcrypto.PrivKey) host.Host {
	t.Helper()
	h, err := hostWithKey(key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func hostWithKey(key lcrypto.PrivKey) (host.Host, error) {
	opts := []libp2p.Option{
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(tls.ID, tls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
	}
	if key != nil {
		opts = append(opts, libp2p.Identity(key))
	}
	return libp2p.New(opts...)
}

// connect makes a and b know and dial each other.
func connect(t testing.TB, a, b host.Host) {
	t.Helper()
	a.Peerstore().AddAddrs(b.ID(), b.Addrs(), peerstore.PermanentAddrTTL)
	b.Peerstore().AddAddrs(a.ID(), a.Addrs(), peerstore.PermanentAddrTTL)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// side is one peer under test: a host, a Manager and the events it emitted.
type side struct {
	t      testing.TB
	h      host.Host
	m      *Manager
	cfg    Config
	mu     sync.Mutex
	events []Info
}

// newSide starts a Manager on h with its own state and downloads folders (unless cfg
// names them) and policy AcceptAny unless mod changes it. Closed at cleanup.
func newSide(t testing.TB, h host.Host, mod func(*Config)) *side {
	t.Helper()
	s := &side{t: t, h: h}
	s.cfg = Config{
		Host: h, StateDir: filepath.Join(t.TempDir(), "state"), Downloads: filepath.Join(t.TempDir(), "downloads"),
		Policy: AcceptAny, Logger: testLogger(t), OnEvent: s.record,
	}
	if mod != nil {
		mod(&s.cfg)
	}
	m, err := New(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.m = m
	t.Cleanup(func() { m.Close() })
	return s
}

func (s *side) record(info Info) {
	s.mu.Lock()
	s.events = append(s.events, info)
	s.mu.Unlock()
}

// eventsFor returns the events of transfer id so far.
func (s *side) eventsFor(id string) []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Info
	for _, e := range s.events {
		if e.ID == id {
			out = append(out, e)
		}
	}
	return out
}

// waitState waits until transfer id is in state want (and fails on a terminal other).
func (s *side) waitState(id string, want State) Info {
	s.t.Helper()
	var last Info
	waitFor(s.t, fmt.Sprintf("transfer %s to be %s", id, want), func() bool {
		var ok bool
		last, ok = s.m.Get(id)
		if ok && last.State.Terminal() && last.State != want {
			s.t.Fatalf("transfer %s ended %s (%s), want %s", id, last.State, last.Error, want)
		}
		return ok && last.State == want
	})
	return last
}

// wait waits for a terminal state of id and returns it.
func (s *side) wait(id string) (Info, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	info, err := s.m.Wait(ctx, id)
	if ctx.Err() != nil {
		s.t.Fatalf("transfer %s did not end in time: %+v", id, info)
	}
	return info, err
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pair is a sender and a receiver, connected.
func pair(t testing.TB, modSender, modReceiver func(*Config)) (*side, *side) {
	t.Helper()
	a, b := newHost(t, nil), newHost(t, nil)
	connect(t, a, b)
	return newSide(t, a, modSender), newSide(t, b, modReceiver)
}

func (s *side) send(to *side, paths ...string) Info {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	info, err := s.m.Send(ctx, to.h.ID(), paths)
	if err != nil {
		s.t.Fatalf("Send: %v", err)
	}
	return info
}

// writeRandom creates a file of n random bytes.
func writeRandom(t testing.TB, path string, n int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// sameFile fails unless the two files have equal bytes.
func sameFile(t testing.TB, want, got string) {
	t.Helper()
	a, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatalf("received file: %v", err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("%s differs from %s (%d vs %d bytes)", got, want, len(b), len(a))
	}
}

// listTree lists every path under dir (slash-separated, relative), with "/" after dirs.
func listTree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	return out
}

// testLogger writes the Manager's logs to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { recover() }() // a log line after the test ended
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// slowSource delays every read, so a test can act in the middle of a transfer.
type slowSource struct {
	*os.File
	delay time.Duration
}

func (s slowSource) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(s.delay)
	return s.File.ReadAt(p, off)
}

func openSlow(delay time.Duration) func(string) (Source, error) {
	return func(p string) (Source, error) {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		return slowSource{File: f, delay: delay}, nil
	}
}
