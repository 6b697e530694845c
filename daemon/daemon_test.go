package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
)

// Generous bounds for things that happen in milliseconds on an idle machine but may
// take seconds on a loaded CI runner under the race detector.
const (
	startWait = 60 * time.Second
	stopWait  = 30 * time.Second
)

// TestMain fails the package if its tests, all done, leave goroutines behind.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if after := settledGoroutines(before); code == 0 && after > before {
		buf := make([]byte, 1<<20)
		fmt.Fprintf(os.Stderr, "%d goroutines left behind by the tests:\n%s", after-before, buf[:runtime.Stack(buf, true)])
		code = 1
	}
	os.Exit(code)
}

// daemon is one Run in a goroutine of the test.
type daemon struct {
	home    string
	st      api.Status
	apiAddr string
	created bool
	cancel  context.CancelFunc
	done    chan error // receives Run's result
	stopped bool
}

// start runs a node for o.Home (a new temp dir if empty) on loopback only, mDNS off,
// and waits until it is ready. It is stopped at cleanup if the test did not stop it.
func start(t *testing.T, o Options) *daemon {
	t.Helper()
	if o.Home == "" {
		o.Home = t.TempDir()
	}
	if o.Name == "" {
		o.Name = "tester"
	}
	o.MDNS = false // never advertise on this machine's real network
	o.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	if o.APIAddr == "" {
		o.APIAddr = "127.0.0.1:0"
	}
	d := &daemon{home: o.Home, done: make(chan error, 1)}
	ready := make(chan struct{})
	o.Ready = func(st api.Status, apiAddr string, created bool) {
		d.st, d.apiAddr, d.created = st, apiAddr, created
		close(ready)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { d.done <- Run(ctx, o) }()
	t.Cleanup(func() {
		if !d.stopped {
			d.stop(t)
		}
	})
	select {
	case <-ready:
	case err := <-d.done:
		d.stopped = true
		t.Fatalf("Run ended before it was ready: %v", err)
	case <-time.After(startWait):
		t.Fatal("the node was not ready in time")
	}
	return d
}

// stop cancels Run's context and returns what Run returned.
func (d *daemon) stop(t *testing.T) error {
	t.Helper()
	d.cancel()
	d.stopped = true
	select {
	case err := <-d.done:
		return err
	case <-time.After(stopWait):
		t.Fatal("Run did not return after its context was canceled")
		return nil
	}
}

func TestSecondRunOnTheSameHomeFails(t *testing.T) {
	first := start(t, Options{})
	err := Run(context.Background(), Options{Home: first.home, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Run = %v, want ErrAlreadyRunning", err)
	}
	pid := strconv.Itoa(os.Getpid())
	for _, want := range []string{first.home, "pid " + pid, "--home"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	// The refused Run must not have disturbed the first one's files.
	if got := readTrimmed(t, filepath.Join(first.home, api.AddrFile)); got != first.apiAddr {
		t.Errorf("api.addr is %q after the refused Run, want %q", got, first.apiAddr)
	}
	status(t, first.home)
}

func TestRunRefusesANonLoopbackAPI(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0"} {
		t.Run(addr, func(t *testing.T) {
			home := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), stopWait)
			defer cancel()
			err := Run(ctx, Options{Home: home, Name: "tester", APIAddr: addr, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
			if err == nil || !strings.Contains(err.Error(), "loopback only") || !strings.Contains(err.Error(), addr) {
				t.Fatalf("Run with --api %s = %v, want a refusal naming the address and loopback", addr, err)
			}
			if _, err := os.Stat(filepath.Join(home, api.AddrFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("api.addr exists after a refused Run (%v)", err)
			}
			assertUnlocked(t, home)
		})
	}
}

func TestRunRefusesAMalformedAPIAddr(t *testing.T) {
	err := Run(context.Background(), Options{Home: t.TempDir(), Name: "tester", APIAddr: "127.0.0.1", Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err == nil || !strings.Contains(err.Error(), "--api") {
		t.Fatalf("Run = %v, want an error about --api", err)
	}
}

func TestListenAPIAcceptsLoopback(t *testing.T) {
	for _, addr := range []string{"", "127.0.0.1:0", "localhost:0", "127.0.0.2:0", "[::1]:0"} {
		ln, err := listenAPI(addr)
		if err != nil {
			if addr == "[::1]:0" && strings.Contains(err.Error(), "assign") {
				t.Logf("no IPv6 loopback here: %v", err)
				continue
			}
			t.Errorf("listenAPI(%q) = %v", addr, err)
			continue
		}
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			t.Errorf("listenAPI(%q) listens on %v", addr, ip)
		}
		ln.Close()
	}
}

func TestRunFiles(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	d := start(t, Options{Home: home, Name: "ann"})
	if !d.created || d.st.Name != "ann" || d.st.Home != home {
		t.Errorf("Ready(%+v, created %v), want a new identity named ann in %s", d.st, d.created, home)
	}
	if len(d.st.Addrs) == 0 || !strings.HasSuffix(d.st.Addrs[0], "/p2p/"+d.st.PeerID) {
		t.Errorf("Ready's addresses %v do not end in /p2p/%s", d.st.Addrs, d.st.PeerID)
	}
	for file, want := range map[string]os.FileMode{
		"":             0o700 | os.ModeDir,
		api.TokenFile:  0o600,
		"identity.key": 0o600,
		api.AddrFile:   0o600,
		lockFile:       0o600,
	} {
		fi, err := os.Stat(filepath.Join(home, file))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", filepath.Join(home, file), fi.Mode(), want)
		}
	}
	if got := readTrimmed(t, filepath.Join(home, api.AddrFile)); got != d.apiAddr {
		t.Errorf("api.addr holds %q, Ready said %q", got, d.apiAddr)
	}
	if token := readTrimmed(t, filepath.Join(home, api.TokenFile)); len(token) < 32 {
		t.Errorf("token %q is too short to be a secret", token)
	}
	if got := readTrimmed(t, filepath.Join(home, lockFile)); got != strconv.Itoa(os.Getpid()) {
		t.Errorf("node.lock holds %q, want this pid", got)
	}
	if st := status(t, home); st.PeerID != d.st.PeerID {
		t.Errorf("the API reports peer %s, Ready said %s", st.PeerID, d.st.PeerID)
	}
}

func TestRestartKeepsIdentityAndToken(t *testing.T) {
	home := t.TempDir()
	first := start(t, Options{Home: home, Name: "ann"})
	token := readTrimmed(t, filepath.Join(home, api.TokenFile))
	if err := first.stop(t); err != nil {
		t.Fatal(err)
	}
	second := start(t, Options{Home: home, Name: "ignored now"})
	if second.created || second.st.PeerID != first.st.PeerID || second.st.Name != "ann" {
		t.Errorf("restart: peer %s %q (created %v), want %s \"ann\" reused", second.st.PeerID, second.st.Name, second.created, first.st.PeerID)
	}
	if got := readTrimmed(t, filepath.Join(home, api.TokenFile)); got != token {
		t.Error("the API token changed across a restart: running clients would lose access")
	}
}

// TestRunStopsCleanly: canceling the context ends Run with nil, ends event streams,
// removes api.addr, releases the lock and leaves no goroutine behind.
//
// No tolerance on the goroutine count: go-libp2p v0.51 as the node configures it (TCP,
// QUIC, no relay, no NAT port mapping) starts no process-wide goroutines that outlive
// its host - measured: the count is back to where it was after the very first Run of a
// process. If an upgrade changes that, start and stop one node before taking the count
// rather than allowing slack, which would hide a real leak of the same size.
func TestRunStopsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	home := t.TempDir()
	d := start(t, Options{Home: home})
	stream := openEvents(t, home, d.apiAddr)
	streamEnded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream.Body)
		streamEnded <- err
	}()

	if err := d.stop(t); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	select {
	case err := <-streamEnded:
		if err != nil {
			t.Errorf("the event stream broke instead of ending: %v", err)
		}
	case <-time.After(stopWait):
		t.Fatal("the event stream did not end when the node stopped")
	}
	stream.Body.Close()
	if _, err := os.Stat(filepath.Join(home, api.AddrFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("api.addr still there after Run returned (%v)", err)
	}
	assertUnlocked(t, home)
	if _, err := client.New(home); !errors.Is(err, client.ErrNotRunning) {
		t.Errorf("client.New after stop = %v, want ErrNotRunning", err)
	}

	after := settledGoroutines(before)
	t.Logf("goroutines: %d before Run, %d after", before, after)
	if after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left behind by Run (%d before, %d after):\n%s",
			after-before, before, after, buf[:runtime.Stack(buf, true)])
	}
}

// settledGoroutines waits (boundedly) for the goroutine count to drop to target and
// returns it; with target 0 it waits for the count to stop changing.
func settledGoroutines(target int) int {
	deadline := time.Now().Add(10 * time.Second)
	n := runtime.NumGoroutine()
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if (target > 0 && m <= target) || (target == 0 && m == n) {
			return m
		}
		n = m
	}
	return n
}

func TestANewRunAfterStop(t *testing.T) {
	home := t.TempDir()
	if err := start(t, Options{Home: home}).stop(t); err != nil {
		t.Fatal(err)
	}
	d := start(t, Options{Home: home})
	status(t, home)
	if err := d.stop(t); err != nil {
		t.Fatal(err)
	}
}

// openEvents opens the node's event stream. Once the answer's header is here the
// server has subscribed: it subscribes before it sends the header.
func openEvents(t *testing.T, home, apiAddr string) *http.Response {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	req, err := http.NewRequest(http.MethodGet, "http://"+apiAddr+api.PathEvents, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+readTrimmed(t, filepath.Join(home, api.TokenFile)))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("event stream: %s", resp.Status)
	}
	return resp
}

// assertUnlocked checks that nothing holds home's lock.
func assertUnlocked(t *testing.T, home string) {
	t.Helper()
	l, err := lockHome(home)
	if err != nil {
		t.Fatalf("home still locked: %v", err)
	}
	l.release()
}

// status asks the node of home for its status through the real client.
func status(t *testing.T, home string) api.Status {
	t.Helper()
	c, err := client.New(home)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopWait)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("status of the node in %s: %v", home, err)
	}
	return st
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// TestAPIPortRemembered: with no --api, the node takes the port of its last start,
// falls back to the default and then to any free port when those are taken, and
// remembers what it got (so an open web app tab finds it again after a restart).
func TestAPIPortRemembered(t *testing.T) {
	home := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	old := defaultAPIAddr
	defaultAPIAddr = taken.Addr().String() // the default is taken: a free port follows
	defer func() { defaultAPIAddr = old }()
	log := slog.New(slog.DiscardHandler)

	first, err := listenAPIIn(home, "", log)
	if err != nil {
		t.Fatal(err)
	}
	port := first.Addr().(*net.TCPAddr).Port
	if first.Addr().String() == taken.Addr().String() {
		t.Fatalf("listened on the taken default %v", taken.Addr())
	}
	rememberPort(home, first.Addr(), log)
	first.Close()
	if p, ok := rememberedPort(home); !ok || p != strconv.Itoa(port) {
		t.Fatalf("remembered port %q, %v; want %d", p, ok, port)
	}
	if fi, err := os.Stat(filepath.Join(home, api.PortFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v; want mode 0600", api.PortFile, fi, err)
	}

	again, err := listenAPIIn(home, "", log)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := again.Addr().(*net.TCPAddr).Port; got != port {
		t.Fatalf("second start on port %d, want the remembered %d", got, port)
	}

	// An explicit --api is used as given, or fails.
	if _, err := listenAPIIn(home, again.Addr().String(), log); err == nil || !strings.Contains(err.Error(), "--api") {
		t.Fatalf("explicit --api on a taken port = %v, want an error naming --api", err)
	}
}
