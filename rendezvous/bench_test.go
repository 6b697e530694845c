package rendezvous

import (
	"context"
	"crypto/rand"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// benchConfig lifts the per-peer limits: the benchmark client is one peer.
func benchConfig() ServerConfig {
	return ServerConfig{RequestsPerSecond: 1e9, Burst: 1 << 30}
}

// benchRecords are signed peer records of n distinct identities, made once per run.
var benchRecords = sync.OnceValue(func() []registration {
	const n = 10_000
	regs := make([]registration, n)
	addrs := []ma.Multiaddr{
		ma.StringCast("/ip4/10.1.2.3/tcp/4001"),
		ma.StringCast("/ip4/10.1.2.3/udp/4001/quic-v1"),
	}
	for i := range regs {
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			panic(err)
		}
		id, _ := peer.IDFromPrivateKey(key)
		rec, err := signRecord(key, peer.AddrInfo{ID: id, Addrs: addrs})
		if err != nil {
			panic(err)
		}
		regs[i] = registration{peer: id, ns: "parley", record: rec, ip: "10.1.2." + strconv.Itoa(i%250)}
	}
	return regs
})

// BenchmarkDiscover10k: a server holding 10,000 registrations in one namespace,
// answering DISCOVER (limit 100, paging through the namespace with cookies) over real
// streams from a client host on loopback. "wire" times the request and response alone
// (the server's share); "verified" is Client.Discover, which also checks the 100
// signatures of every page. Both report latency percentiles, the store's heap and the
// process's RSS.
func BenchmarkDiscover10k(b *testing.B) {
	b.Run("wire", func(b *testing.B) {
		benchDiscover(b, func(c *Client, cookie []byte) (int, []byte, error) {
			req := Message{Type: TypeDiscover, Discover: Discover{Namespace: "parley", Limit: 100, Cookie: cookie}}
			resp, err := c.roundTrip(context.Background(), req, TypeDiscoverResponse)
			return len(resp.DiscoverResponse.Registrations), resp.DiscoverResponse.Cookie, err
		})
	})
	b.Run("verified", func(b *testing.B) {
		benchDiscover(b, func(c *Client, cookie []byte) (int, []byte, error) {
			peers, next, err := c.Discover(context.Background(), "parley", 100, cookie)
			return len(peers), next, err
		})
	})
}

func benchDiscover(b *testing.B, discover func(*Client, []byte) (int, []byte, error)) {
	regs := benchRecords()
	srv, info := startServer(b, benchConfig())
	defer srv.Close()
	heap := fill(b, srv, regs)
	c := newClient(b, info)
	defer c.host.Close()

	lat := make([]time.Duration, 0, b.N)
	var cookie []byte
	var returned int
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		n, next, err := discover(c, cookie)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		returned += n
		cookie = next
		if n == 0 {
			cookie = nil
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	p50, p99 := lat[len(lat)*50/100], lat[len(lat)*99/100]
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(heap)/(1<<20), "store-heap-MiB")
	b.ReportMetric(rssMiB(), "RSS-MiB")
	b.ReportMetric(float64(returned)/float64(b.N), "peers/op")
	b.Logf("DISCOVER over %d registrations, N=%d: p50 %v, p99 %v; store heap %.1f MiB (%d B/registration), process RSS %.0f MiB",
		srv.Stats().Registrations, b.N, p50, p99, float64(heap)/(1<<20), heap/uint64(len(regs)), rssMiB())
}

// fill inserts regs into the server's store, each with its own copy of the record as
// a real REGISTER would leave it, and returns the heap the store grew by.
func fill(b *testing.B, srv *Server, regs []registration) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	expires := time.Now().Add(time.Hour)
	for i := range regs {
		r := regs[i]
		r.record, r.expires = slices.Clone(r.record), expires
		if err := srv.store.add(&r, quota{}); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// BenchmarkRegister: REGISTER round trips from one client host (each a fresh stream and
// a freshly signed record), for registrations per second.
func BenchmarkRegister(b *testing.B) {
	srv, info := startServer(b, benchConfig())
	defer srv.Close()
	c := newClient(b, info)
	defer c.host.Close()
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := c.Register(ctx, "parley", 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "registers/s")
}

// rssMiB is the process's resident set size, or 0 where /proc is missing.
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}
