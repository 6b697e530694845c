package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testnode"
)

const (
	presenceChanges    = 20               // timed changes per setting, alternating away and online
	presenceCLIChanges = 5                // more, each through a `parley status` process
	presenceWait       = 10 * time.Second // one change, at most
	presencePause      = 200 * time.Millisecond
)

// presenceRun is one setting's samples: from just before B's API call (or B's CLI
// start) to the event on A's stream reaching a probe in A's namespace.
type presenceRun struct {
	label   string
	api     []time.Duration
	call    []time.Duration // B's SetPresence API call itself
	cli     []time.Duration
	skipped string
}

// BenchmarkPresencePropagation: node B changes its presence and status text 20 times,
// alternating away and online with a new text each time; for each change, the time
// from just before B's local API call (made by eventprobe in B's namespace, so no CLI
// start is in it) to A's event for it reaching eventprobe in A's namespace. Both stamp
// with the machine's wall clock. Five more changes go through a `parley status` process
// started in B's namespace, timed from just before its start: what a user typing sees.
// Two settings: two netlab hosts with mDNS (needs root; skipped without it), and two
// nodes on loopback (--no-mdns, --peer). Target: < 1 s (issue 5: a change reaches
// contacts on the LAN within 1 s).
func BenchmarkPresencePropagation(b *testing.B) {
	var runs []presenceRun
	lab, skipped := labOrSkipReason(b)
	if lab != nil {
		a := testnode.Start(b, testnode.Options{Name: "pres-a", Host: lab.AddHost("host1")})
		bn := testnode.Start(b, testnode.Options{Name: "pres-b", Host: lab.AddHost("host2")})
		runs = append(runs, measurePresence(b, "two netlab hosts (mDNS)", a, bn))
	} else {
		runs = append(runs, presenceRun{label: "two netlab hosts (mDNS)", skipped: skipped})
	}
	a, bn, _ := loopbackPair(b)
	runs = append(runs, measurePresence(b, "loopback (--no-mdns, --peer)", a, bn))
	b.StopTimer()
	printPresence(runs)
	reportPresence(b, runs)
}

// measurePresence makes a and bn contacts, waits until each sees the other online,
// and times the changes.
func measurePresence(b *testing.B, label string, a, bn *testnode.Node) presenceRun {
	b.Helper()
	aID, bID := a.Status().PeerID, bn.Status().PeerID
	testnode.WaitFor(b, 30*time.Second, label+": A and B connected", func() bool {
		return hasOnline(a.Peers(), bID) && hasOnline(bn.Peers(), aID)
	})
	a.AddContact("B", bID)
	bn.AddContact("A", aID)
	watch := a.WatchPeer(bID)
	set := bn.StartPresenceSetter()
	set.Set(api.PresenceBusy, "warming up") // not timed: the first push negotiates the protocol
	watch.WaitFor(presenceWait, "the warm-up change", shows(api.PresenceBusy, "warming up"))
	run := presenceRun{label: label}
	b.ResetTimer()
	for i := range presenceChanges {
		presence, text := presenceStep(i)
		at, done := set.Set(presence, text)
		seen := watch.WaitFor(presenceWait, fmt.Sprintf("%s: change %d", label, i), shows(presence, text))
		run.api = append(run.api, seen.At.Sub(at))
		run.call = append(run.call, done.Sub(at))
		time.Sleep(presencePause)
	}
	for i := range presenceCLIChanges {
		presence, text := presenceStep(presenceChanges + i)
		start := time.Now()
		bn.SetPresence(presence, text)
		seen := watch.WaitFor(presenceWait, fmt.Sprintf("%s: CLI change %d", label, i), shows(presence, text))
		run.cli = append(run.cli, seen.At.Sub(start))
		time.Sleep(presencePause)
	}
	b.StopTimer()
	return run
}

// presenceStep is change i: away on even steps, online on odd ones, with a new text.
func presenceStep(i int) (presence, text string) {
	presence = api.PresenceAway
	if i%2 == 1 {
		presence = api.PresenceOnline
	}
	return presence, fmt.Sprintf("status text %d", i)
}

func shows(presence, text string) func(api.Peer) bool {
	return func(p api.Peer) bool { return p.Presence == presence && p.Status == text }
}

func printPresence(runs []presenceRun) {
	fmt.Printf("\npresence propagation: B changes presence and text, A's event stream shows it\n")
	fmt.Printf("  %-58s %10s %10s %10s %10s   %s\n", "", "p50", "p90", "max", "n", "target")
	for _, r := range runs {
		if r.skipped != "" {
			fmt.Printf("  %-58s %s\n", r.label, r.skipped)
			continue
		}
		s := Summarize(r.api)
		printPresenceRow(r.label+": B's API call → A's event", s, "< 1 s: "+verdict(s.Max < time.Second))
		printPresenceRow("  B's API call itself (SetPresence)", Summarize(r.call), "")
		printPresenceRow("  `parley status` process start → A's event", Summarize(r.cli), "")
	}
}

func printPresenceRow(label string, s Summary, target string) {
	fmt.Printf("  %-58s %10s %10s %10s %10d   %s\n", label, Ms(s.P50), Ms(s.P90), Ms(s.Max), s.N, target)
}

func reportPresence(b *testing.B, runs []presenceRun) {
	for i, r := range runs {
		if r.skipped != "" {
			continue
		}
		name := [...]string{"lan", "loopback"}[i]
		s := Summarize(r.api)
		b.ReportMetric(MsValue(s.P50), name+"-p50-ms")
		b.ReportMetric(MsValue(s.P90), name+"-p90-ms")
		b.ReportMetric(MsValue(s.Max), name+"-max-ms")
		b.ReportMetric(MsValue(Summarize(r.cli).P50), name+"-cli-p50-ms")
	}
}
