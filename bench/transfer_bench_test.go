package bench

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
)

// BenchmarkFileTransfer sizes, rounds and bounds. Every loop is bounded in count, and
// every wait in time.
const (
	loopbackBytes = 2 << 30  // per loopback round
	rssBytes      = 10 << 30 // the RSS run
	linkBytes     = 1 << 30  // per round over the shaped link
	linkRate      = "1gbit"
	fileRounds    = 3 // of each measurement, interleaved

	rssEvery         = 100 * time.Millisecond
	transferDeadline = 10 * time.Minute // one send, hashing included
	pollEvery        = 25 * time.Millisecond

	rssTarget = 150 << 20
)

// sendResult is one timed send-file: the final transfer as the sending node reports it,
// the wall time from the offer call to seeing it completed, and when (since the call)
// the phases ended: hashing and the offer (the call returned), and serving the data
// (the sender had written every chunk to its streams). What follows is the receiver
// verifying the last chunks, fsyncing, releasing the files and telling the sender.
type sendResult struct {
	Transfer api.Transfer  `json:"transfer"`
	Wall     time.Duration `json:"wall_ns"`
	Offered  time.Duration `json:"offered_ns"`
	Served   time.Duration `json:"served_ns"`
}

// timedSendFiles does what `parley send-file` does, through the same API, but polls
// every 25 ms rather than 200 ms so the wall time is not rounded up by the poll.
func timedSendFiles(cl *client.Client, to string, paths []string) (sendResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), transferDeadline)
	defer cancel()
	start := time.Now()
	t, err := cl.SendFiles(ctx, to, paths)
	if err != nil {
		return sendResult{}, err
	}
	var res sendResult
	res.Offered = time.Since(start)
	for !t.Final() {
		time.Sleep(pollEvery)
		if t, err = cl.Transfer(ctx, t.ID); err != nil {
			return sendResult{}, err
		}
		if res.Served == 0 && t.DoneBytes == t.TotalBytes {
			res.Served = time.Since(start)
		}
	}
	wall := time.Since(start)
	res.Served = cmp.Or(res.Served, wall)
	res.Transfer = t
	if t.State != api.TransferCompleted {
		return res, fmt.Errorf("transfer %s ended %s: %s", t.ID, t.State, t.Error)
	}
	res.Wall = wall
	return res, nil
}

// phases collects the phase ends of the parley rounds.
type phases struct{ hash, data, finish []time.Duration }

func (p *phases) add(r sendResult) {
	p.hash = append(p.hash, r.Offered)
	p.data = append(p.data, r.Served-r.Offered)
	p.finish = append(p.finish, r.Wall-r.Served)
}

func (p phases) String() string {
	return fmt.Sprintf("hashing + offer %s; serving the data %s; last chunks + fsync + release + DONE %s",
		durations(p.hash), durations(p.data), durations(p.finish))
}

// throughput is one measured move of some bytes.
type throughput struct {
	bytes   int64
	elapsed time.Duration
}

// mbps is decimal megabytes per second (10^6 B/s), as link rates are counted.
func (t throughput) mbps() float64 {
	if t.elapsed <= 0 {
		return 0
	}
	return float64(t.bytes) / t.elapsed.Seconds() / 1e6
}

// series is one row of the table: the rounds of one measurement.
type series struct {
	label string
	runs  []throughput
	note  string // e.g. the transport used
}

func (s *series) add(t throughput) { s.runs = append(s.runs, t) }

func (s series) rates() []float64 {
	out := make([]float64, len(s.runs))
	for i, r := range s.runs {
		out[i] = r.mbps()
	}
	slices.Sort(out)
	return out
}

// median is the middle rate (the lower middle of an even count).
func (s series) median() float64 {
	r := s.rates()
	if len(r) == 0 {
		return 0
	}
	return r[(len(r)-1)/2]
}

func (s series) spread() (lo, hi float64) {
	r := s.rates()
	if len(r) == 0 {
		return 0, 0
	}
	return r[0], r[len(r)-1]
}

func BenchmarkFileTransfer(b *testing.B) {
	loop := benchLoopback(b)
	rss := benchRSS(b)
	link, linkSkipped := benchLink(b)
	b.StopTimer()
	printFileTransfer(loop, rss, link, linkSkipped)
	reportFileTransfer(b, loop, rss, link)
}

// ---- loopback: parley vs bare libp2p vs raw TCP ----

// loopbackFigures are the interleaved rounds on loopback.
type loopbackFigures struct {
	parley, p2p, p2pFile, tcp, disk series
	nodeTransport                   string    // the nodes' connection, from `peers`
	p2pConn                         string    // the baseline's connection: transport, security, muxer
	cpuSend, cpuRecv                []float64 // each parley round's CPU use, % of one core
	phases                          phases
}

// filePair is a sending and a receiving node on loopback in this namespace.
type filePair struct {
	sender, receiver *testnode.Node
	cl               *client.Client // the sender's API
	recvID           string
	downloads        string
}

func newFilePair(b *testing.B) *filePair {
	b.Helper()
	p := &filePair{downloads: b.TempDir()}
	p.receiver = testnode.Start(b, testnode.Options{Name: "bench-recv",
		Args: loopbackArgs("--accept-files", "any", "--downloads", p.downloads)})
	st := p.receiver.Status()
	p.recvID = st.PeerID
	p.sender = testnode.Start(b, testnode.Options{Name: "bench-send", Args: loopbackArgs("--peer", st.Addrs[0])})
	p.cl = newClient(b, p.sender.Home)
	waitOnline(b, p.cl, p.recvID)
	return p
}

// connTransport is how the sender is connected to the receiver: its peer entry's
// connection addresses (multiaddrs) while connected.
func connTransport(peers []api.Peer, id string) string {
	for _, p := range peers {
		if p.PeerID == id && p.Connected {
			return strings.Join(p.Addrs, " ")
		}
	}
	return "not connected"
}

// transportOf names the transport in a multiaddr: "quic-v1" or "tcp".
func transportOf(addr string) string {
	if strings.Contains(addr, "/quic-v1") {
		return "quic-v1"
	}
	return "tcp"
}

func benchLoopback(b *testing.B) loopbackFigures {
	b.Helper()
	p := newFilePair(b)
	f := loopbackFigures{
		parley:  series{label: "parley send-file, 2 GiB (hashing + disk), wall"},
		p2p:     series{label: "bare libp2p stream, 2 GiB, memory to memory"},
		p2pFile: series{label: "bare libp2p stream, 2 GiB, file to file + fsync"},
		tcp:     series{label: "raw TCP, 2 GiB, no encryption, no disk"},
		disk:    series{label: "disk alone: write 2 GiB (1 MiB writes) + fsync"},
	}
	peers, err := p.cl.Peers(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	f.nodeTransport = connTransport(peers, p.recvID)
	sinkDisk := b.TempDir() // on the same disk as the receiver's downloads
	p2pSinkProc := startSink(b, nil, "p2p-sink", "/ip4/127.0.0.1/tcp/0,/ip4/127.0.0.1/udp/0/quic-v1", envDisk+"="+sinkDisk)
	tcpSinkProc := startSink(b, nil, "tcp-sink", "127.0.0.1:0")
	p2pTarget := sinkAddr(b, p2pSinkProc, transportOf(f.nodeTransport))

	src := filepath.Join(b.TempDir(), "source.bin")
	writeRandomFile(b, src, loopbackBytes)
	b.ResetTimer()
	for round := range fileRounds {
		// Rotate the order so no measurement always runs first or last.
		steps := []func(){
			func() { f.parleyRound(b, p, src, round) },
			func() { f.p2pConn = f.p2p.measureHelper(b, nil, "p2p-send", p2pTarget, loopbackBytes) },
			func() { f.p2pFile.measureHelper(b, nil, "p2p-send", p2pTarget, loopbackBytes, envSource+"="+src) },
			func() { f.tcp.measureHelper(b, nil, "tcp-send", tcpSinkProc.info.Addrs[0], loopbackBytes) },
			func() { f.disk.add(diskWrite(b, p.downloads, loopbackBytes)) },
		}
		for i := range steps {
			steps[(i+round)%len(steps)]()
		}
	}
	return f
}

// parleyRound sends a link of src under a name of its own (a new transfer: the ID
// derives from names and hashes), then deletes what arrived.
func (f *loopbackFigures) parleyRound(b *testing.B, p *filePair, src string, round int) {
	b.Helper()
	name := fmt.Sprintf("loopback-%d.bin", round)
	path := linkSource(b, src, name)
	cpu0 := []time.Duration{mustCPU(b, p.sender.PID()), mustCPU(b, p.receiver.PID())}
	res, err := timedSendFiles(p.cl, p.recvID, []string{path})
	if err != nil {
		b.Fatalf("parley round %d: %v\nsender log:\n%s\nreceiver log:\n%s", round, err, tail(p.sender.Log()), tail(p.receiver.Log()))
	}
	cpuSend := mustCPU(b, p.sender.PID()) - cpu0[0]
	cpuRecv := mustCPU(b, p.receiver.PID()) - cpu0[1]
	f.parley.add(throughput{res.Transfer.TotalBytes, res.Wall})
	f.cpuSend = append(f.cpuSend, 100*cpuSend.Seconds()/res.Wall.Seconds())
	f.cpuRecv = append(f.cpuRecv, 100*cpuRecv.Seconds()/res.Wall.Seconds())
	f.phases.add(res)
	removeReceived(b, p.downloads, name)
	os.Remove(path)
}

// measureHelper runs a sender helper (here, or in host h) against target and adds its
// result; it returns how the helper was connected.
func (s *series) measureHelper(b *testing.B, h *netlab.Host, role, target string, size int64, env ...string) string {
	b.Helper()
	var res streamResult
	runHelper(b, h, role, &res, append(env, envTarget+"="+target, envBytes+"="+strconv.FormatInt(size, 10))...)
	s.add(throughput{res.Bytes, res.Elapsed})
	conn := res.Transport
	if res.Security != "" {
		conn += " " + res.Security + " " + res.Muxer
	}
	return conn
}

// diskWrite times writing size bytes into a new file in dir (1 MiB writes of one random
// buffer) and fsyncing it, then deletes the file.
func diskWrite(b *testing.B, dir string, size int64) throughput {
	b.Helper()
	buf := make([]byte, ioBuffer)
	rand.NewChaCha8([32]byte{'d', 'i', 's', 'k'}).Read(buf)
	f, err := os.CreateTemp(dir, "disk-*.bin")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	start := time.Now()
	for left := size; left > 0; left -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return throughput{size, time.Since(start)}
}

// linkSource hard-links src as name in a folder of its own: the same bytes under a new
// name make a new transfer without writing gigabytes again.
func linkSource(b *testing.B, src, name string) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), name)
	if err := os.Link(src, path); err != nil {
		b.Fatal(err)
	}
	return path
}

// removeReceived deletes a received file and checks it had arrived whole.
func removeReceived(b *testing.B, downloads, name string) {
	b.Helper()
	path := filepath.Join(downloads, name)
	if _, err := os.Stat(path); err != nil {
		b.Fatalf("the completed transfer left no %s: %v", path, err)
	}
	if err := os.Remove(path); err != nil {
		b.Fatal(err)
	}
}

func mustCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	t, err := CPUTime(pid)
	if err != nil {
		b.Fatalf("CPU time of pid %d: %v (did the node die?)", pid, err)
	}
	return t
}

// writeRandomFile fills path with size bytes of ChaCha8 output.
func writeRandomFile(b *testing.B, path string, size int64) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{'p', 'a', 'r', 'l', 'e', 'y'})
	for left := size; left > 0; left -= int64(len(buf)) {
		r.Read(buf)
		if _, err := f.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			b.Fatalf("write %s: %v", path, err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

func tail(log string) string {
	const n = 4000
	if len(log) <= n {
		return log
	}
	return "…" + log[len(log)-n:]
}

// ---- RSS while moving 10 GiB ----

type rssFigures struct {
	move               throughput
	peakSend, peakRecv int64 // sampled VmRSS
	hwmSend, hwmRecv   int64 // the kernel's VmHWM at the end (whole life of the process)
	samples            int
}

func benchRSS(b *testing.B) rssFigures {
	b.Helper()
	p := newFilePair(b)
	src := filepath.Join(b.TempDir(), "ten.bin")
	writeRandomFile(b, src, rssBytes)
	pids := []int{p.sender.PID(), p.receiver.PID()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	peaks := make([]int64, len(pids))
	var samples int
	wg.Go(func() {
		tick := time.NewTicker(rssEvery)
		defer tick.Stop()
		for {
			for i, pid := range pids {
				if n, err := RSS(pid); err == nil {
					peaks[i] = max(peaks[i], n)
				}
			}
			samples++
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	res, err := timedSendFiles(p.cl, p.recvID, []string{src})
	close(stop)
	wg.Wait()
	if err != nil {
		b.Fatalf("10 GiB transfer: %v\nsender log:\n%s\nreceiver log:\n%s", err, tail(p.sender.Log()), tail(p.receiver.Log()))
	}
	f := rssFigures{move: throughput{res.Transfer.TotalBytes, res.Wall}, peakSend: peaks[0], peakRecv: peaks[1], samples: samples}
	f.hwmSend, _ = PeakRSS(pids[0])
	f.hwmRecv, _ = PeakRSS(pids[1])
	removeReceived(b, p.downloads, "ten.bin")
	os.Remove(src)
	return f
}

// ---- a 1 Gbit/s link between two netlab hosts ----

type linkFigures struct {
	parley, p2p, tcp series
	nodeTransport    string
	p2pConn          string
	rate             int64 // bits per second
	phases           phases
}

// benchLink runs the rounds over a link shaped with tbf on the sender's eth0 (the data
// direction), between two nodes that found each other by mDNS with default listeners.
func benchLink(b *testing.B) (linkFigures, string) {
	b.Helper()
	lab, skipped := labOrSkipReason(b)
	if lab == nil {
		return linkFigures{}, skipped
	}
	rate, _ := netlab.ParseRate(linkRate)
	f := linkFigures{rate: rate,
		parley: series{label: "parley send-file, 1 GiB (hashing + disk), wall"},
		p2p:    series{label: "bare libp2p stream, 1 GiB, no disk"},
		tcp:    series{label: "raw TCP, 1 GiB, no encryption, no disk"},
	}
	hs, hr := lab.AddHost("sender"), lab.AddHost("receiver")
	downloads := b.TempDir()
	receiver := testnode.Start(b, testnode.Options{Name: "link-recv", Host: hr,
		Args: []string{"--accept-files", "any", "--downloads", downloads}})
	sender := testnode.Start(b, testnode.Options{Name: "link-send", Host: hs})
	recvID := receiver.Status().PeerID
	testnode.WaitFor(b, 30*time.Second, "the sender to find the receiver by mDNS", func() bool {
		return hasOnline(sender.Peers(), recvID)
	})
	f.nodeTransport = connTransport(sender.Peers(), recvID)
	hs.LimitRate(b, linkRate)

	ip := hr.IP.String()
	p2pSinkProc := startSink(b, hr, "p2p-sink", "/ip4/"+ip+"/tcp/0,/ip4/"+ip+"/udp/0/quic-v1")
	tcpSinkProc := startSink(b, hr, "tcp-sink", ip+":0")
	p2pTarget := sinkAddr(b, p2pSinkProc, transportOf(f.nodeTransport))
	src := filepath.Join(b.TempDir(), "source.bin")
	writeRandomFile(b, src, linkBytes)
	for round := range fileRounds {
		steps := []func(){
			func() { f.parleyRound(b, hs, sender, recvID, downloads, src, round) },
			func() { f.p2pConn = f.p2p.measureHelper(b, hs, "p2p-send", p2pTarget, linkBytes) },
			func() { f.tcp.measureHelper(b, hs, "tcp-send", tcpSinkProc.info.Addrs[0], linkBytes) },
		}
		for i := range steps {
			steps[(i+round)%len(steps)]()
		}
	}
	return f, ""
}

// parleyRound sends from inside the sender's host (its API listens on that namespace's
// loopback) through the send-files helper.
func (f *linkFigures) parleyRound(b *testing.B, hs *netlab.Host, sender *testnode.Node, to, downloads, src string, round int) {
	b.Helper()
	name := fmt.Sprintf("link-%d.bin", round)
	path := linkSource(b, src, name)
	var res sendResult
	runHelper(b, hs, "send-files", &res, envHome+"="+sender.Home, envTo+"="+to, envPaths+"="+path)
	f.parley.add(throughput{res.Transfer.TotalBytes, res.Wall})
	f.phases.add(res)
	removeReceived(b, downloads, name)
	os.Remove(path)
}

// ---- the table ----

func printFileTransfer(loop loopbackFigures, rss rssFigures, link linkFigures, linkSkipped string) {
	fmt.Printf("\nfile transfer: %d rounds of each measurement, interleaved (order rotated each round); MB = 10^6 bytes\n", fileRounds)
	fmt.Printf("loopback, this namespace, two node processes (--no-mdns, 127.0.0.1); baselines between two helper processes\n")
	fmt.Printf("  nodes' connection: %s\n  baseline libp2p connection: %s\n", loop.nodeTransport, loop.p2pConn)
	printSeriesHeader()
	printSeries(loop.parley, "")
	printSeries(loop.p2p, "the ceiling")
	printSeries(loop.p2pFile, "")
	printSeries(loop.tcp, "")
	printSeries(loop.disk, "")
	r := ratio(loop.parley.median(), loop.p2p.median())
	printRatio("parley / bare libp2p (medians)", r, perRoundRatios(loop.parley, loop.p2p), ">= 80 %: "+verdict(r >= 0.8))
	printRatio("parley / bare libp2p file to file (medians)", ratio(loop.parley.median(), loop.p2pFile.median()), perRoundRatios(loop.parley, loop.p2pFile), "")
	printRatio("parley / raw TCP (medians)", ratio(loop.parley.median(), loop.tcp.median()), perRoundRatios(loop.parley, loop.tcp), "")
	fmt.Printf("  parley per round: CPU of the sender %s, of the receiver %s (%% of one core)\n", percents(loop.cpuSend), percents(loop.cpuRecv))
	fmt.Printf("  parley phases per round: %s\n", loop.phases)

	fmt.Printf("\nRSS of both node processes while moving 10 GiB over loopback (VmRSS sampled every %v, %d samples; %.0f MB/s)\n",
		rssEvery, rss.samples, rss.move.mbps())
	fmt.Printf("  %-46s %12s %14s   %s\n", "", "peak sampled", "VmHWM (life)", "target")
	fmt.Printf("  %-46s %12s %14s   < 150 MB: %s\n", "sender node", MB(rss.peakSend), MB(rss.hwmSend), verdict(rss.peakSend < rssTarget))
	fmt.Printf("  %-46s %12s %14s   < 150 MB: %s\n", "receiver node", MB(rss.peakRecv), MB(rss.hwmRecv), verdict(rss.peakRecv < rssTarget))

	fmt.Printf("\n%s link (tbf on the sender's eth0) between two netlab hosts, nodes found by mDNS, default listeners\n", linkRate)
	if linkSkipped != "" {
		fmt.Printf("  %s\n", linkSkipped)
		return
	}
	linkMBps := float64(link.rate) / 8 / 1e6
	fmt.Printf("  nodes' connection: %s\n  baseline libp2p connection: %s\n", link.nodeTransport, link.p2pConn)
	printSeriesHeader()
	pct := func(s series) string { return fmt.Sprintf("%.1f %% of link", 100*s.median()/linkMBps) }
	ok := link.parley.median() >= 0.9*linkMBps
	printSeries(link.parley, pct(link.parley)+"; >= 90 %: "+verdict(ok))
	printSeries(link.p2p, pct(link.p2p))
	printSeries(link.tcp, pct(link.tcp)+" (what tbf delivers)")
	printRatio("parley / bare libp2p (medians)", ratio(link.parley.median(), link.p2p.median()), perRoundRatios(link.parley, link.p2p), "")
	printRatio("parley / raw TCP (medians)", ratio(link.parley.median(), link.tcp.median()), perRoundRatios(link.parley, link.tcp), "")
	fmt.Printf("  parley phases per round: %s\n", link.phases)
}

func printSeriesHeader() {
	fmt.Printf("  %-50s %10s %21s   %s\n", "", "median", "spread (min..max)", "")
}

func printSeries(s series, target string) {
	lo, hi := s.spread()
	fmt.Printf("  %-50s %6.0f MB/s %8.0f..%-6.0f MB/s   %s\n", s.label, s.median(), lo, hi, target)
}

func printRatio(label string, r float64, rounds []float64, target string) {
	fmt.Printf("  %-50s %8.1f %%   per round: %s   %s\n", label, 100*r, percents(scale(rounds, 100)), target)
}

// perRoundRatios pairs the i-th rounds of a and b (run next to each other).
func perRoundRatios(a, b series) []float64 {
	var out []float64
	for i := range min(len(a.runs), len(b.runs)) {
		out = append(out, ratio(a.runs[i].mbps(), b.runs[i].mbps()))
	}
	return out
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func scale(xs []float64, k float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * k
	}
	return out
}

func percents(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f %%", x)
	}
	return strings.Join(parts, ", ")
}

func durations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Round(10 * time.Millisecond).String()
	}
	return strings.Join(parts, ", ")
}

func reportFileTransfer(b *testing.B, loop loopbackFigures, rss rssFigures, link linkFigures) {
	b.ReportMetric(loop.parley.median(), "parley-MB/s")
	b.ReportMetric(loop.p2p.median(), "libp2p-MB/s")
	b.ReportMetric(loop.tcp.median(), "tcp-MB/s")
	b.ReportMetric(100*ratio(loop.parley.median(), loop.p2p.median()), "parley/libp2p-%")
	b.ReportMetric(float64(max(rss.peakSend, rss.peakRecv))/(1<<20), "peak-RSS-MB")
	if link.rate > 0 {
		b.ReportMetric(100*link.parley.median()/(float64(link.rate)/8/1e6), "link-%")
	}
}
