package transfer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"lukechampine.com/blake3"
)

// benchSize is the file moved per iteration of the loopback benchmarks.
const benchSize = 256 << 20

// BenchmarkLoopback moves a 256 MiB file between two Managers on loopback hosts (TLS,
// yamux, as the node), for each chunk size and number of data streams. One iteration is
// the whole job as a user sees it: hashing, the offer, pulling, verifying, writing, fsync
// and release. pull-MB/s leaves hashing out (from the offer's answer to completion).
// Run it without -race and compare with BenchmarkLoopbackBareStream of the same run:
//
//	go test -run '^$' -bench 'Loopback' -benchtime 3x -count 3 ./transfer/
//
// Measured here: a 2-vCPU VM shared with other engineers' test runs (the bare stream
// itself swung 430-1360 MB/s between iterations), both sides in one process, downloads
// on the VM's disk. pull-MB/s and pull-%bare, median of 3 runs of 3 iterations:
//
//	chunk \ streams       1              2              4
//	256 KiB         477 (38 %)     438 (42 %)     388 (43 %)    peak heap 15/11/18 MiB
//	1 MiB           452 (39 %)     369 (45 %)     452 (47 %)    peak heap 14/23/24 MiB
//	4 MiB           372 (30 %)     501 (44 %)     397 (33 %)    peak heap 30/47/63 MiB
//	(bare libp2p stream in the same runs: 900-1360 MB/s)
//
// On tmpfs in a quieter moment (one run of 3, bare stream 854 MB/s): 256 KiB 377/527/651,
// 1 MiB 500/516/668, 4 MiB 531/704/761 MB/s; 1 MiB with 2 streams reached 614 MB/s
// (72 % of bare) in the quietest run. Total (with hashing) is 25-35 % of bare on disk.
//
// Why not closer to the bare stream: per MiB pulled, the receiver's pwrite costs ~0.9 ms
// of CPU, the sender's pread ~0.5 ms and BLAKE3 ~0.45 ms, against ~1 ms for everything
// the bare stream does, and here both peers share the same two vCPUs. Two machines do
// not share that budget; on a 1 Gbit/s LAN (~117 MB/s) every configuration is 3x over.
func BenchmarkLoopback(b *testing.B) {
	src := filepath.Join(b.TempDir(), "bench.bin")
	writeRandom(b, src, benchSize)
	for _, cs := range []int64{256 << 10, 1 << 20, 4 << 20} {
		for _, streams := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("chunk=%dKiB/streams=%d", cs>>10, streams), func(b *testing.B) {
				benchTransfer(b, src, cs, streams)
			})
		}
	}
}

func benchTransfer(b *testing.B, src string, chunk int64, streams int) {
	ha, hb := newHost(b, nil), newHost(b, nil)
	connect(b, ha, hb)
	bare := bareSink(b, hb)
	b.SetBytes(benchSize)
	var total, pull, ceiling time.Duration
	heap := sampleHeap()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ceiling += bareCopy(b, ha, hb, bare) // the ceiling, measured next to each run
		b.StartTimer()
		start := time.Now()
		pull += oneTransfer(b, ha, hb, src, chunk, streams)
		total += time.Since(start)
	}
	b.ReportMetric(float64(heap())/(1<<20), "peak-heap-MiB")
	mb := float64(b.N) * benchSize / 1e6
	b.ReportMetric(mb/pull.Seconds(), "pull-MB/s")
	b.ReportMetric(mb/ceiling.Seconds(), "bare-MB/s")
	b.ReportMetric(100*ceiling.Seconds()/pull.Seconds(), "pull-%bare")
	b.ReportMetric(100*ceiling.Seconds()/total.Seconds(), "total-%bare")
}

// sampleHeap samples the Go heap in use every 20 ms until the returned function is
// called, which returns the peak (both sides of the transfer live in this process).
func sampleHeap() func() uint64 {
	stop := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var top uint64
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				peak <- top
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				top = max(top, ms.HeapInuse)
			}
		}
	}()
	return func() uint64 {
		close(stop)
		return <-peak
	}
}

// oneTransfer runs one Send on fresh Managers and returns the time from the offer's
// answer to the receiver's completion.
func oneTransfer(b *testing.B, ha, hb host.Host, src string, chunk int64, streams int) time.Duration {
	dir, err := os.MkdirTemp("", "parley-bench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	a, err := New(Config{Host: ha, StateDir: filepath.Join(dir, "as"), Downloads: filepath.Join(dir, "ad"), ChunkSize: chunk})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	r, err := New(Config{Host: hb, StateDir: filepath.Join(dir, "bs"), Downloads: filepath.Join(dir, "bd"), Policy: AcceptAny, Streams: streams})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	info, err := a.Send(ctx, hb.ID(), []string{src})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if got, err := r.Wait(ctx, info.ID); err != nil {
		b.Fatalf("%s: %v", got.State, err)
	}
	return time.Since(start)
}

// BenchmarkLoopbackBareStream is the ceiling alone: one libp2p stream on the same kind
// of hosts, 1 MiB writes from memory, the reader discarding.
func BenchmarkLoopbackBareStream(b *testing.B) {
	ha, hb := newHost(b, nil), newHost(b, nil)
	connect(b, ha, hb)
	bare := bareSink(b, hb)
	b.SetBytes(benchSize)
	for i := 0; i < b.N; i++ {
		bareCopy(b, ha, hb, bare)
	}
}

const bareProtocol = "/parley/bench/bare"

// bareSink makes h discard what arrives on bareProtocol and report the byte count.
func bareSink(b *testing.B, h host.Host) chan int64 {
	done := make(chan int64)
	h.SetStreamHandler(bareProtocol, func(st network.Stream) {
		n, _ := io.CopyBuffer(io.Discard, st, make([]byte, 1<<20))
		st.Close()
		done <- n
	})
	return done
}

// bareCopy sends benchSize bytes from memory on one stream and times it.
func bareCopy(b *testing.B, from, to host.Host, done chan int64) time.Duration {
	start := time.Now()
	st, err := from.NewStream(context.Background(), to.ID(), bareProtocol)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for sent := 0; sent < benchSize; sent += len(buf) {
		if _, err := st.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	st.CloseWrite()
	if n := <-done; n != benchSize {
		b.Fatalf("received %d bytes", n)
	}
	st.Close()
	return time.Since(start)
}

// BenchmarkChunkHash compares the two candidate hashes on one 1 MiB chunk, one core.
func BenchmarkChunkHash(b *testing.B) {
	chunk := make([]byte, ChunkSize)
	rand.Read(chunk)
	b.Run("BLAKE3-256", func(b *testing.B) {
		b.SetBytes(ChunkSize)
		for b.Loop() {
			blake3.Sum256(chunk)
		}
	})
	b.Run("SHA-256", func(b *testing.B) {
		b.SetBytes(ChunkSize)
		for b.Loop() {
			sha256.Sum256(chunk)
		}
	})
}
