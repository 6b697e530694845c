package bench

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
)

// The benchmarks take these fixed sample counts whatever b.N is; run them with
// -benchtime 1x. Every loop is bounded in count and in time.
const (
	warmupSends     = 50
	roundTripRounds = 2000
	roundTripBudget = 10 * time.Minute // for warm-up and all rounds together
	callTimeout     = 10 * time.Second // one API call

	firstPeerRounds  = 5
	firstPeerTimeout = 30 * time.Second        // per round
	firstPeerPause   = time.Second             // between stopping B and starting it again
	firstPeerSettle  = 3500 * time.Millisecond // A's quick browse rounds end 3 s after its start

	idleSettle = 5 * time.Second
	idleWindow = 30 * time.Second // sampled once a second
)

// ---- message round trip ----

// roundTripSamples are the interleaved measurements of BenchmarkMessageRoundTrip.
type roundTripSamples struct {
	send []time.Duration // node-measured: stream open to the recipient's ACK
	call []time.Duration // the client's wall time of the whole send API call
	ping []time.Duration // one libp2p ping between the same processes
}

func BenchmarkMessageRoundTrip(b *testing.B) {
	_, sender, to := loopbackPair(b)
	cl := newClient(b, sender.Home)
	deadline := time.Now().Add(roundTripBudget)
	var warm, s roundTripSamples
	for i := range warmupSends {
		warm.measure(b, cl, to, i, deadline)
	}
	b.ResetTimer()
	for i := range roundTripRounds {
		s.measure(b, cl, to, warmupSends+i, deadline)
	}
	b.StopTimer()
	printRoundTrip(s)
	reportRoundTrip(b, s)
}

// measure takes one round: a send, then a ping.
func (s *roundTripSamples) measure(b *testing.B, cl *client.Client, to string, i int, deadline time.Time) {
	b.Helper()
	if time.Now().After(deadline) {
		b.Fatalf("gave up after %v with %d rounds measured", roundTripBudget, len(s.send))
	}
	node, wall := sendOnce(b, cl, to, fmt.Sprintf("bench message %d", i))
	s.send = append(s.send, node)
	s.call = append(s.call, wall)
	s.ping = append(s.ping, pingOnce(b, cl, to))
}

// sendOnce sends text and fails the benchmark unless it was delivered: a benchmark that
// measures failures measures nothing.
func sendOnce(b *testing.B, cl *client.Client, to, text string) (node, wall time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	start := time.Now()
	r, err := cl.Send(ctx, to, text)
	wall = time.Since(start)
	if err != nil {
		b.Fatalf("send %q: %v", text, err)
	}
	if r.Message.State != api.StateDelivered || r.Error != "" {
		b.Fatalf("send %q ended %q (%s), not delivered", text, r.Message.State, r.Error)
	}
	if r.RoundTrip <= 0 {
		b.Fatalf("send %q: delivered but the node reported no round trip", text)
	}
	return r.RoundTrip, wall
}

func pingOnce(b *testing.B, cl *client.Client, to string) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	r, err := cl.Ping(ctx, to)
	if err != nil {
		b.Fatalf("ping %s: %v", to, err)
	}
	return r.RoundTrip
}

func printRoundTrip(s roundTripSamples) {
	send, call, ping := Summarize(s.send), Summarize(s.call), Summarize(s.ping)
	fmt.Printf("\nmessage round trip, two nodes on loopback (%d rounds, send and ping interleaved)\n", send.N)
	fmt.Printf("  %-44s %10s %10s %10s %10s   %s\n", "", "p50", "p90", "p99", "max", "target")
	met := verdict(send.P50 < 2*time.Millisecond && send.P99 < 10*time.Millisecond)
	printDurationRow("parley send, node-measured incl. ACK", send, "p50 < 2 ms, p99 < 10 ms: "+met)
	printDurationRow("parley send API call, client wall time", call, "")
	printDurationRow("libp2p ping, same processes (baseline)", ping, "")
	fmt.Printf("  %-44s %10s %10s %10s\n", "ratio parley send / ping",
		times(Ratio(send.P50, ping.P50)), "", times(Ratio(send.P99, ping.P99)))
}

func printDurationRow(label string, s Summary, target string) {
	fmt.Printf("  %-44s %10s %10s %10s %10s   %s\n", label, Ms(s.P50), Ms(s.P90), Ms(s.P99), Ms(s.Max), target)
}

func reportRoundTrip(b *testing.B, s roundTripSamples) {
	send, call, ping := Summarize(s.send), Summarize(s.call), Summarize(s.ping)
	b.ReportMetric(MsValue(send.P50), "send-p50-ms")
	b.ReportMetric(MsValue(send.P99), "send-p99-ms")
	b.ReportMetric(MsValue(call.P50), "call-p50-ms")
	b.ReportMetric(MsValue(ping.P50), "ping-p50-ms")
	b.ReportMetric(Ratio(send.P50, ping.P50), "send/ping-p50")
	b.ReportMetric(Ratio(send.P99, ping.P99), "send/ping-p99")
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func times(r float64) string { return fmt.Sprintf("%.1fx", r) }

// ---- mDNS first peer ----

// firstPeer is one round of BenchmarkMDNSFirstPeer: from B's process start to its log
// lines about A, as the bench process received them and as the node stamped them.
//
// B logs "found peer" only for a peer it did not know yet. When A's own periodic browse
// catches B first, A dials B, B learns of A from that inbound connection and logs
// "peer online" without any "found peer" line; such a round has found == false.
type firstPeer struct {
	found                    bool
	foundRecv, foundLogged   time.Duration // "found peer" via=mdns
	onlineRecv, onlineLogged time.Duration // "peer online": connected
}

func BenchmarkMDNSFirstPeer(b *testing.B) {
	lab := netlab.New(b)
	h1, h2 := lab.AddHost("host1"), lab.AddHost("host2")
	a := testnode.Start(b, testnode.Options{Name: "mdns-a", Host: h1})
	aID := a.Status().PeerID
	time.Sleep(firstPeerSettle) // A is past its quick browse rounds, as a node long up is
	homeB := b.TempDir()        // kept across rounds: round 1 also creates B's identity
	var rounds []firstPeer
	b.ResetTimer()
	for i := range firstPeerRounds {
		if i > 0 {
			time.Sleep(firstPeerPause)
		}
		rounds = append(rounds, measureFirstPeer(b, h2, homeB, aID))
	}
	b.StopTimer()
	printFirstPeer(rounds)
	reportFirstPeer(b, rounds)
}

// measureFirstPeer starts B in h, reads its log until it is connected to A, and stops
// it. A "found peer" line for A can only come before that line (see firstPeer).
func measureFirstPeer(b *testing.B, h *netlab.Host, home, aID string) firstPeer {
	b.Helper()
	n := startStamped(b, h, home, "mdns-b")
	defer n.Stop()
	var f firstPeer
	timeout := time.After(firstPeerTimeout)
	for f.onlineRecv == 0 {
		select {
		case l, ok := <-n.Lines:
			if !ok {
				b.Fatalf("node B exited before it connected to A:\n%s", n.Log())
			}
			f.note(l, n.Started, aID)
		case <-timeout:
			b.Fatalf("node B did not connect to A (%s) within %v:\n%s", aID, firstPeerTimeout, n.Log())
		}
	}
	return f
}

// note records l if it is the first "found peer" (via mDNS) or "peer online" line for A.
func (f *firstPeer) note(l stampedLine, started time.Time, aID string) {
	ll, err := ParseLogLine(l.Text)
	if err != nil {
		return
	}
	switch {
	case !f.found && ll.Msg == "found peer" && ll.Attrs["via"] == "mdns" && ll.Attrs["peer"] == aID:
		f.found, f.foundRecv, f.foundLogged = true, l.At.Sub(started), ll.Time.Sub(started)
	case ll.Msg == "peer online" && isPeerA(ll.Attrs["peer"], aID):
		f.onlineRecv, f.onlineLogged = l.At.Sub(started), ll.Time.Sub(started)
	}
}

// isPeerA matches how "peer online" names A: "NAME (short ID)" once its name is known,
// else the full ID.
func isPeerA(attr, aID string) bool {
	return attr == aID || strings.HasPrefix(attr, "mdns-a (")
}

func printFirstPeer(rounds []firstPeer) {
	found := foundRounds(rounds)
	fmt.Printf("\nmDNS first peer: B started in one netlab host, A up for a while in another (%d rounds)\n", len(rounds))
	fmt.Printf("  %-52s %10s %10s %10s   %s\n", "from B's process start to", "min", "median", "max", "target")
	online := column(rounds, func(f firstPeer) time.Duration { return f.onlineRecv })
	printSpreadRow(`"peer online" (connected to A), line received`, online, "< 1.5 s: "+verdict(Median(online) < 1500*time.Millisecond))
	printSpreadRow(`"peer online" (connected to A), node's log time`, column(rounds, func(f firstPeer) time.Duration { return f.onlineLogged }), "")
	label := fmt.Sprintf(`"found peer" via=mdns (%d of %d rounds), received`, len(found), len(rounds))
	printSpreadRow(label, column(found, func(f firstPeer) time.Duration { return f.foundRecv }), "")
	printSpreadRow(`"found peer" via=mdns, node's log time`, column(found, func(f firstPeer) time.Duration { return f.foundLogged }), "")
	printRounds(rounds)
}

// printRounds lists every round; "A dialled first" marks a round without "found peer".
func printRounds(rounds []firstPeer) {
	fmt.Printf("  per round, received (#1 also created B's identity):\n")
	for i, f := range rounds {
		found := "A dialled first"
		if f.found {
			found = "found " + Ms(f.foundRecv)
		}
		fmt.Printf("    #%d  online %s  (%s)\n", i+1, Ms(f.onlineRecv), found)
	}
}

func foundRounds(rounds []firstPeer) []firstPeer {
	var out []firstPeer
	for _, f := range rounds {
		if f.found {
			out = append(out, f)
		}
	}
	return out
}

func column(rounds []firstPeer, get func(firstPeer) time.Duration) []time.Duration {
	out := make([]time.Duration, len(rounds))
	for i, f := range rounds {
		out[i] = get(f)
	}
	return out
}

func printSpreadRow(label string, ds []time.Duration, target string) {
	if len(ds) == 0 {
		fmt.Printf("  %-52s %10s %10s %10s   %s\n", label, "-", "-", "-", target)
		return
	}
	s := Summarize(ds)
	fmt.Printf("  %-52s %10s %10s %10s   %s\n", label, Ms(s.Min), Ms(s.P50), Ms(s.Max), target)
}

func reportFirstPeer(b *testing.B, rounds []firstPeer) {
	online := column(rounds, func(f firstPeer) time.Duration { return f.onlineRecv })
	b.ReportMetric(MsValue(Median(online)), "online-median-ms")
	b.ReportMetric(MsValue(Summarize(online).Max), "online-max-ms")
	if found := foundRounds(rounds); len(found) > 0 {
		b.ReportMetric(MsValue(Median(column(found, func(f firstPeer) time.Duration { return f.foundRecv }))), "found-median-ms")
	}
}

// ---- idle node ----

// watched is a node process whose idle cost BenchmarkIdleNode samples.
type watched struct {
	label  string // for the table
	metric string // for b.ReportMetric units
	pid    int
}

// idleFigures are one process's figures over the window.
type idleFigures struct {
	watched
	peakRSS, meanRSS int64
	cpuPercent       float64 // of one core
}

func BenchmarkIdleNode(b *testing.B) {
	a, bn, _ := loopbackPair(b)
	ws := []watched{
		{"loopback node A (--no-mdns, connected to B)", "loopback-a", a.PID()},
		{"loopback node B (--no-mdns, connected to A)", "loopback-b", bn.PID()},
	}
	labNodes, skipped := mdnsIdleNodes(b)
	ws = append(ws, labNodes...)
	time.Sleep(idleSettle)
	b.ResetTimer()
	figs := sampleIdle(b, ws)
	b.StopTimer()
	printIdle(figs, skipped)
	reportIdle(b, figs)
}

// mdnsIdleNodes starts two mDNS nodes in netlab hosts and waits until they are
// connected, or says why it could not (no root, outside CI).
func mdnsIdleNodes(b *testing.B) ([]watched, string) {
	b.Helper()
	lab, skipped := labOrSkipReason(b)
	if lab == nil {
		return nil, skipped
	}
	n1 := testnode.Start(b, testnode.Options{Name: "idle-1", Host: lab.AddHost("host1")})
	n2 := testnode.Start(b, testnode.Options{Name: "idle-2", Host: lab.AddHost("host2")})
	id1 := n1.Status().PeerID
	testnode.WaitFor(b, 30*time.Second, "netlab node 2 to find node 1 by mDNS", func() bool {
		return hasOnline(n2.Peers(), id1)
	})
	return []watched{
		{"netlab node 1 (mDNS on, connected to 2)", "mdns-1", n1.PID()},
		{"netlab node 2 (mDNS on, connected to 1)", "mdns-2", n2.PID()},
	}, ""
}

// sampleIdle reads every process's RSS once a second over idleWindow, and its CPU time
// at both ends of the window.
func sampleIdle(b *testing.B, ws []watched) []idleFigures {
	b.Helper()
	cpu0 := cpuTimes(b, ws)
	start := time.Now()
	rss := make([][]int64, len(ws))
	for i := 1; i <= int(idleWindow/time.Second); i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second)))
		for j, w := range ws {
			rss[j] = append(rss[j], mustRSS(b, w.pid))
		}
	}
	elapsed := time.Since(start)
	cpu1 := cpuTimes(b, ws)
	figs := make([]idleFigures, len(ws))
	for j, w := range ws {
		peak, mean := peakAndMean(rss[j])
		figs[j] = idleFigures{watched: w, peakRSS: peak, meanRSS: mean,
			cpuPercent: 100 * float64(cpu1[j]-cpu0[j]) / float64(elapsed)}
	}
	return figs
}

func cpuTimes(b *testing.B, ws []watched) []time.Duration {
	b.Helper()
	out := make([]time.Duration, len(ws))
	for i, w := range ws {
		t, err := CPUTime(w.pid)
		if err != nil {
			b.Fatalf("%s: %v (did the node die?)", w.label, err)
		}
		out[i] = t
	}
	return out
}

func mustRSS(b *testing.B, pid int) int64 {
	b.Helper()
	n, err := RSS(pid)
	if err != nil {
		b.Fatalf("RSS of pid %d: %v (did the node die?)", pid, err)
	}
	return n
}

func peakAndMean(xs []int64) (peak, mean int64) {
	var sum int64
	for _, x := range xs {
		peak = max(peak, x)
		sum += x
	}
	return peak, sum / int64(max(len(xs), 1))
}

func printIdle(figs []idleFigures, skipped string) {
	fmt.Printf("\nidle node: %v settle, then %v window (RSS sampled every second)\n", idleSettle, idleWindow)
	fmt.Printf("  %-46s %10s %10s %8s   %s\n", "", "peak RSS", "mean RSS", "CPU", "target RSS < 80 MB, ~0 % CPU (read: < 0.5 %)")
	for _, f := range figs {
		ok := f.peakRSS < 80<<20 && math.Round(f.cpuPercent*100) < 50 // as printed: < 0.50 %
		fmt.Printf("  %-46s %10s %10s %7.2f%%   %s\n", f.label, MB(f.peakRSS), MB(f.meanRSS), f.cpuPercent, verdict(ok))
	}
	if skipped != "" {
		fmt.Printf("  %-46s %s\n", "netlab nodes (mDNS on)", skipped)
	}
}

func reportIdle(b *testing.B, figs []idleFigures) {
	for _, f := range figs {
		b.ReportMetric(float64(f.peakRSS)/(1<<20), f.metric+"-peak-MB")
		b.ReportMetric(f.cpuPercent, f.metric+"-cpu-%")
	}
}
