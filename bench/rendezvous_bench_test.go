package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/parley-im/parley/daemon"
	"github.com/parley-im/parley/internal/testnode"
	"github.com/parley-im/parley/rendezvous"
)

// BenchmarkRendezvous10k's fixed sizes and bounds.
const (
	rvPeers          = 10_000
	rvWorkers        = 8 // clients registering at the same time
	rvNamespace      = "bench"
	rvTTL            = 10 * time.Minute // the server's longest: nothing expires during the run
	rvRegisterBudget = 6 * time.Minute  // all 10,000 registrations
	rvDiscovers      = 500              // of each kind, verified and wire
	rvPageLimit      = 100
	rvCallTimeout    = 10 * time.Second // one client call
	rvServerStart    = 60 * time.Second
	// The server allows one peer 10 requests a second (a bucket of 30); the discovering
	// client alternates a verified and a wire DISCOVER, one every rvDiscoverEvery, so it
	// stays under that and no request is refused for its rate.
	rvDiscoverEvery = 105 * time.Millisecond
)

// rvFigures are what BenchmarkRendezvous10k measures.
type rvFigures struct {
	registerWall time.Duration   // all rvPeers clients, host start to host close
	connect      []time.Duration // each client's dial and handshake (TCP, TLS, yamux)
	register     []time.Duration // each client's REGISTER round trip on that connection
	serverCPU    time.Duration   // the server's user+system CPU over the registrations

	verified []time.Duration // Client.Discover: request, response, 100 signatures checked
	wire     []time.Duration // the same request and response alone, no signature checks
	ttfb     []time.Duration // of wire: request written to the response's first byte
	pages    int             // verified DISCOVERs that returned a full page
	sweep    int             // peers the first verified sweep through the namespace found

	rssRegistered, hwmRegistered int64 // server after the registrations
	rssDiscovered, hwmDiscovered int64 // server after the discovers
}

// BenchmarkRendezvous10k runs a real `parley rendezvous serve` on loopback, registers
// 10,000 simulated clients with it (each a fresh libp2p host with its own key, closed
// once registered), then pages through the namespace with DISCOVER from one client.
// Target (PRODUCT.md): 10,000 registered peers, discover p99 < 20 ms, RSS < 300 MB.
func BenchmarkRendezvous10k(b *testing.B) {
	srv := startRendezvous(b)
	var f rvFigures
	b.ResetTimer()
	f.registerAll(b, srv)
	f.rssRegistered, f.hwmRegistered = mustRSS(b, srv.pid), mustPeakRSS(b, srv.pid)
	f.discoverAll(b, srv)
	f.rssDiscovered, f.hwmDiscovered = mustRSS(b, srv.pid), mustPeakRSS(b, srv.pid)
	b.StopTimer()
	printRendezvous(f)
	reportRendezvous(b, f)
}

// rvServer is the `parley rendezvous serve` process.
type rvServer struct {
	pid    int
	info   peer.AddrInfo
	stderr *lockedWriter
}

func startRendezvous(b *testing.B) *rvServer {
	b.Helper()
	cmd := exec.Command(testnode.Build(b), "--home", b.TempDir(), "rendezvous", "serve", "--json",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--stun", "off", "--metrics", "off",
		"--max-per-ip", fmt.Sprint(2*rvPeers), "--log-level", "warn")
	s := &rvServer{stderr: &lockedWriter{}}
	cmd.Stderr = s.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start rendezvous serve: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	s.pid = cmd.Process.Pid
	line, err := readLineWithin(stdout, rvServerStart)
	if err != nil {
		b.Fatalf("rendezvous serve printed no address: %v\n%s", err, s.stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	var in daemon.RendezvousInfo
	if err := json.Unmarshal(line, &in); err != nil || len(in.Addrs) == 0 {
		b.Fatalf("rendezvous serve printed %q: %v", line, err)
	}
	info, err := peer.AddrInfoFromString(in.Addrs[0])
	if err != nil {
		b.Fatalf("rendezvous address %q: %v", in.Addrs[0], err)
	}
	s.info = *info
	return s
}

// newRendezvousClient is a light libp2p host with its own Ed25519 key: TCP on a free
// loopback port (so its signed record carries an address, as a node's does), TLS, yamux.
func newRendezvousClient() (host.Host, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	return libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(tls.ID, tls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
	)
}

// registerAll registers rvPeers clients, rvWorkers at a time, and fails on the first
// that could not.
func (f *rvFigures) registerAll(b *testing.B, srv *rvServer) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rvRegisterBudget)
	defer cancel()
	cpu0 := mustCPU(b, srv.pid)
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	f.connect = make([]time.Duration, rvPeers)
	f.register = make([]time.Duration, rvPeers)
	start := time.Now()
	for range rvWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= rvPeers || ctx.Err() != nil {
					return
				}
				conn, reg, err := registerOne(ctx, srv.info)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("client %d: %w", i, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				f.connect[i], f.register[i] = conn, reg
			}
		})
	}
	wg.Wait()
	f.registerWall = time.Since(start)
	f.serverCPU = mustCPU(b, srv.pid) - cpu0
	if firstErr != nil {
		b.Fatalf("registering %d clients: %v\nserver log:\n%s", rvPeers, firstErr, tail(srv.stderr.String()))
	}
	if ctx.Err() != nil {
		b.Fatalf("%d registrations did not finish within %v", rvPeers, rvRegisterBudget)
	}
}

// registerOne starts a client host, connects it to the server, registers it and closes it.
func registerOne(ctx context.Context, server peer.AddrInfo) (conn, reg time.Duration, err error) {
	h, err := newRendezvousClient()
	if err != nil {
		return 0, 0, fmt.Errorf("new host: %w", err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(ctx, rvCallTimeout)
	defer cancel()
	t0 := time.Now()
	if err := h.Connect(ctx, server); err != nil {
		return 0, 0, fmt.Errorf("connect: %w", err)
	}
	t1 := time.Now()
	ttl, err := rendezvous.NewClient(h, server).Register(ctx, rvNamespace, rvTTL)
	if err != nil {
		return 0, 0, err
	}
	if ttl != rvTTL {
		return 0, 0, fmt.Errorf("asked for a TTL of %v, granted %v", rvTTL, ttl)
	}
	return t1.Sub(t0), time.Since(t1), nil
}

// discoverAll pages through the namespace from one client host, alternating a verified
// DISCOVER (Client.Discover) and a wire one (the same request on the exported codec, no
// signature checks); each pager restarts from no cookie after the namespace's end.
func (f *rvFigures) discoverAll(b *testing.B, srv *rvServer) {
	b.Helper()
	h, err := newRendezvousClient()
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), rvCallTimeout)
	err = h.Connect(ctx, srv.info)
	cancel()
	if err != nil {
		b.Fatalf("connect to the rendezvous server: %v", err)
	}
	cl := rendezvous.NewClient(h, srv.info)
	var vCookie, wCookie []byte
	seen := map[peer.ID]bool{}
	firstSweep := true
	tick := time.NewTicker(rvDiscoverEvery)
	defer tick.Stop()
	for range rvDiscovers {
		ctx, cancel := context.WithTimeout(context.Background(), rvCallTimeout)
		t0 := time.Now()
		peers, next, err := cl.Discover(ctx, rvNamespace, rvPageLimit, vCookie)
		f.verified = append(f.verified, time.Since(t0))
		if err != nil {
			cancel()
			b.Fatalf("DISCOVER %d: %v\nserver log:\n%s", len(f.verified), err, tail(srv.stderr.String()))
		}
		if len(peers) == rvPageLimit {
			f.pages++
		}
		if firstSweep {
			for _, p := range peers {
				seen[p.ID] = true
			}
		}
		vCookie = next
		if len(peers) < rvPageLimit { // the end of the namespace: start again
			vCookie, firstSweep = nil, false
		}
		<-tick.C

		total, ttfb, n, next, err := rawDiscover(ctx, h, srv.info.ID, wCookie)
		cancel()
		if err != nil {
			b.Fatalf("wire DISCOVER %d: %v\nserver log:\n%s", len(f.wire)+1, err, tail(srv.stderr.String()))
		}
		f.wire, f.ttfb = append(f.wire, total), append(f.ttfb, ttfb)
		wCookie = next
		if n < rvPageLimit {
			wCookie = nil
		}
		<-tick.C
	}
	f.sweep = len(seen)
	if firstSweep {
		b.Fatalf("%d DISCOVERs did not page through the namespace once (%d peers seen)", rvDiscovers, len(seen))
	}
	if f.sweep != rvPeers {
		b.Fatalf("paging through the namespace found %d peers, want the %d registered", f.sweep, rvPeers)
	}
}

// rawDiscover sends one DISCOVER on a new stream and reads the response, timing the
// whole exchange and, of it, the wait from the request written to the first byte back.
func rawDiscover(ctx context.Context, h host.Host, server peer.ID, cookie []byte) (total, ttfb time.Duration, n int, next []byte, err error) {
	t0 := time.Now()
	st, err := h.NewStream(ctx, server, rendezvous.ProtocolID)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	defer st.Close()
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	req := rendezvous.Message{Type: rendezvous.TypeDiscover,
		Discover: rendezvous.Discover{Namespace: rvNamespace, Limit: rvPageLimit, Cookie: cookie}}
	if _, err := st.Write(rendezvous.AppendMessage(nil, req)); err != nil {
		st.Reset()
		return 0, 0, 0, nil, fmt.Errorf("write: %w", err)
	}
	written := time.Now()
	r := bufio.NewReaderSize(st, 4096)
	if _, err := r.Peek(1); err != nil {
		st.Reset()
		return 0, 0, 0, nil, fmt.Errorf("read: %w", err)
	}
	ttfb = time.Since(written)
	resp, err := rendezvous.ReadMessage(r)
	if err != nil {
		st.Reset()
		return 0, 0, 0, nil, fmt.Errorf("read: %w", err)
	}
	total = time.Since(t0)
	dr := resp.DiscoverResponse
	if resp.Type != rendezvous.TypeDiscoverResponse {
		return 0, 0, 0, nil, fmt.Errorf("answered %v, not a DISCOVER_RESPONSE", resp.Type)
	}
	if dr.Status != rendezvous.StatusOK {
		return 0, 0, 0, nil, &rendezvous.StatusError{Status: dr.Status, Text: dr.StatusText}
	}
	return total, ttfb, len(dr.Registrations), dr.Cookie, nil
}

func mustPeakRSS(b *testing.B, pid int) int64 {
	b.Helper()
	n, err := PeakRSS(pid)
	if err != nil {
		b.Fatalf("peak RSS of pid %d: %v (did the server die?)", pid, err)
	}
	return n
}

func printRendezvous(f rvFigures) {
	n := len(f.register)
	rate := float64(n) / f.registerWall.Seconds()
	fmt.Printf("\nrendezvous server (`parley rendezvous serve`, loopback): %d clients registered, %d at a time\n", n, rvWorkers)
	fmt.Printf("  %-50s %10s %10s %10s %10s   %s\n", "", "p50", "p90", "p99", "max", "target")
	printRvRow("client connect (TCP, TLS, yamux)", Summarize(f.connect), "")
	printRvRow("REGISTER round trip", Summarize(f.register), "")
	fmt.Printf("  %-50s %10.0f/s  (%d in %v, each a new host and key; server CPU %v, %.0f µs each)\n",
		"registrations per second, wall", rate, n, f.registerWall.Round(time.Millisecond),
		f.serverCPU.Round(time.Millisecond), float64(f.serverCPU.Microseconds())/float64(n))
	fmt.Printf("\n  DISCOVER, limit %d, paging through %d registrations with cookies (%d of each, %d full pages)\n",
		rvPageLimit, f.sweep, len(f.verified), f.pages)
	fmt.Printf("  %-50s %10s %10s %10s %10s   %s\n", "", "p50", "p90", "p99", "max", "target")
	v := Summarize(f.verified)
	printRvRow("Client.Discover (verifies 100 signatures/page)", v, "p99 < 20 ms: "+verdict(v.P99 < 20*time.Millisecond))
	printRvRow("wire: request and response, no verification", Summarize(f.wire), "")
	printRvRow("  of which request written → first byte", Summarize(f.ttfb), "")
	fmt.Printf("\n  %-50s %10s %10s   %s\n", "server memory", "VmRSS", "VmHWM", "target")
	fmt.Printf("  %-50s %10s %10s   %s\n", fmt.Sprintf("after %d registrations", n), MB(f.rssRegistered), MB(f.hwmRegistered), "")
	fmt.Printf("  %-50s %10s %10s   RSS < 300 MB: %s\n", "after the DISCOVERs", MB(f.rssDiscovered), MB(f.hwmDiscovered),
		verdict(max(f.hwmRegistered, f.hwmDiscovered) < 300<<20))
}

func printRvRow(label string, s Summary, target string) {
	fmt.Printf("  %-50s %10s %10s %10s %10s   %s\n", label, Ms(s.P50), Ms(s.P90), Ms(s.P99), Ms(s.Max), target)
}

func reportRendezvous(b *testing.B, f rvFigures) {
	v, w := Summarize(f.verified), Summarize(f.wire)
	b.ReportMetric(float64(len(f.register))/f.registerWall.Seconds(), "registers/s")
	b.ReportMetric(MsValue(Summarize(f.register).P99), "register-p99-ms")
	b.ReportMetric(MsValue(v.P50), "discover-p50-ms")
	b.ReportMetric(MsValue(v.P99), "discover-p99-ms")
	b.ReportMetric(MsValue(w.P50), "wire-p50-ms")
	b.ReportMetric(MsValue(w.P99), "wire-p99-ms")
	b.ReportMetric(float64(f.rssDiscovered)/(1<<20), "server-RSS-MB")
	b.ReportMetric(float64(max(f.hwmRegistered, f.hwmDiscovered))/(1<<20), "server-HWM-MB")
}
