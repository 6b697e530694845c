package integration

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testnode"
	"github.com/parley-im/parley/transfer"
)

// Targets of issue 12 for an offer flood from fresh identities.
const (
	floodIdentities   = 10
	floodOffersEach   = 34
	floodRSSTarget    = 300 << 20
	floodStateTarget  = 100 << 20
	floodOfferMaxSize = transfer.DefaultStrangerOfferFrame
)

// emptyFile is an entry for an empty file at path (no chunks; the hash of no hashes).
var emptyHash = transfer.FileHash(nil)

func emptyFile(path string) transfer.Entry {
	return transfer.Entry{Path: path, Kind: transfer.KindFile, Mode: 0o644, Hash: emptyHash}
}

// maximalEntries is the largest file list a stranger may offer: empty files with
// 40-byte names, as many as fit in one OFFER of at most the strangers' frame cap.
// Built once; variant makes each offer's list differ from the others in one name.
var maximalEntries = sync.OnceValue(func() []transfer.Entry {
	const perEntry = 87 // encoded bytes of one entry with a 40-byte path
	entries := make([]transfer.Entry, floodOfferMaxSize/perEntry-1)
	for i := range entries {
		name := fmt.Sprintf("flood/%07d-", i)
		entries[i] = emptyFile(name + strings.Repeat("n", 40-len(name)))
	}
	for frameLen(transfer.Manifest{ChunkSize: transfer.ChunkSize, Entries: entries}) > floodOfferMaxSize {
		entries = entries[:len(entries)-16]
	}
	return entries
})

// oldMaximalEntries is what the old 16 MiB cap let anyone offer: 95 000 empty files
// with 120-byte names.
var oldMaximalEntries = sync.OnceValue(func() []transfer.Entry {
	entries := make([]transfer.Entry, 95_000)
	for i := range entries {
		name := fmt.Sprintf("big/%06d-", i)
		entries[i] = emptyFile(name + strings.Repeat("n", 120-len(name)))
	}
	return entries
})

// variant is entries with the first name replaced by one made of tag (same length).
func variant(entries []transfer.Entry, tag string) []transfer.Entry {
	out := slices.Clone(entries)
	p := out[0].Path
	out[0] = emptyFile(tag + p[len(tag):])
	return out
}

// frameLen is the length field of the OFFER frame of man: what the receiver's cap is
// compared with.
func frameLen(man transfer.Manifest) int {
	f := transfer.AppendOffer(nil, transfer.Offer{ID: strings.Repeat("00", transfer.IDLen), Fresh: true, Manifest: man})
	_, k := uvarint(f)
	return len(f) - k
}

func uvarint(b []byte) (uint64, int) {
	var x uint64
	for i, c := range b {
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, i + 1
		}
	}
	return 0, 0
}

// procKB reads a "Field: N kB" line of /proc/PID/status, in bytes.
func procKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status: %q", pid, line)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// duBytes is `du -sb dir`: the bytes of the files under dir.
func duBytes(t *testing.T, dir string) int64 {
	t.Helper()
	out, err := exec.Command("du", "-sb", dir).Output()
	if err != nil {
		t.Fatalf("du %s: %v", dir, err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// timed runs f and returns how long it took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// TestHostileOfferFlood: ten fresh identities each offer 34 maximal file lists (empty
// files with long names, the most a stranger may send) and one of the old 16 MiB
// maximum. Strangers share one budget, so 32 offers wait and every other one is told
// "too many offers waiting" (or, for the 16 MiB ones, too large for a stranger). The
// node's peak RSS stays under 300 MB and HOME/transfers under 100 MB; `parley id` and
// `parley transfers` answer at once; a contact's message and file still arrive; and a
// restart brings the 32 offers back without loading their file lists. The figures are
// logged beside their targets (never asserted as timings).
//
// The receiver runs in this namespace (--no-mdns, 127.0.0.1 only); the identities are
// libp2p hosts in the test process, on loopback.
func TestHostileOfferFlood(t *testing.T) {
	// Rita keeps Fred connected (--peer), so they meet again after her restart.
	fred := testnode.Start(t, testnode.Options{Name: "Fred", Args: loopbackArgs()})
	fredID := fred.Status().PeerID
	// Rita's memory is the figure under test: she runs without -race (Plain), which
	// would otherwise about triple it.
	rita := testnode.Start(t, testnode.Options{Name: "Rita", Plain: true,
		Args: append(loopbackArgs(), "--peer", tcpAddr(t, fred.Status().Addrs))})
	ritaAddr := tcpAddr(t, rita.Status().Addrs)
	rita.CLI("contacts", "add", "--name", "Fred", fredID)
	startRSS := procKB(t, rita.PID(), "VmRSS")

	var mu sync.Mutex
	answers := map[string]int{}
	var wg sync.WaitGroup
	var idLatency []time.Duration
	stop := make(chan struct{})
	var poller sync.WaitGroup // the `parley id` poller's owner: stopPoller ends it and waits
	stopPoller := sync.OnceFunc(func() { close(stop); poller.Wait() })
	defer stopPoller() // also when the test fails before the flood ends
	poller.Add(1)
	go func() { // `parley id` while the flood runs
		defer poller.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			d := timed(func() { rita.TryCLI("id") })
			mu.Lock()
			idLatency = append(idLatency, d)
			mu.Unlock()
		}
	}()
	floodStart := time.Now()
	if n := frameLen(transfer.Manifest{ChunkSize: transfer.ChunkSize, Entries: oldMaximalEntries()}); n > transfer.MaxOfferFrame || n < 15<<20 {
		t.Fatalf("the old maximal offer is %d bytes", n)
	}
	t.Logf("each identity offers %d lists of %d empty files (%s each) and one of %d (%s)",
		floodOffersEach, len(maximalEntries()), mib(int64(frameLen(transfer.Manifest{ChunkSize: transfer.ChunkSize, Entries: maximalEntries()}))),
		len(oldMaximalEntries()), mib(int64(frameLen(transfer.Manifest{ChunkSize: transfer.ChunkSize, Entries: oldMaximalEntries()}))))
	senders := make([]*hostileSender, floodIdentities)
	for i := range senders {
		senders[i] = newHostileSender(t, ritaAddr)
	}
	for i, hs := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range floodOffersEach + 1 {
				entries := variant(maximalEntries(), fmt.Sprintf("x%02d%02d", i, j))
				if j == floodOffersEach { // the old maximum: 16 MiB of names
					entries = variant(oldMaximalEntries(), fmt.Sprintf("y%02d", i))
				}
				a, err := hs.offer(entries, nil)
				mu.Lock()
				switch {
				case err != nil && j == floodOffersEach:
					// Read past under a progress deadline; a loaded machine may still cut one.
					answers["16 MiB offer cut: "+err.Error()]++
				case err != nil:
					answers["error: "+err.Error()]++
				case a.Status == transfer.StatusPending:
					answers["pending"]++
				case strings.Contains(a.Reason, "too many offers waiting"):
					answers["too many offers waiting"]++
				case strings.HasPrefix(a.Reason, "too large"):
					answers["too large from a stranger"]++
				default:
					answers[fmt.Sprintf("status %d: %s", a.Status, a.Reason)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	stopPoller()
	floodTook := time.Since(floodStart)
	t.Logf("answers to %d offers from %d fresh identities (in %s): %v",
		floodIdentities*(floodOffersEach+1), floodIdentities, floodTook.Round(time.Millisecond), answers)
	if answers["pending"] != transfer.DefaultMaxStrangerOffers {
		t.Errorf("%d offers wait for an answer, want the strangers' budget of %d", answers["pending"], transfer.DefaultMaxStrangerOffers)
	}
	cut := 0
	for answer, n := range answers {
		switch {
		case strings.HasPrefix(answer, "16 MiB offer cut"):
			cut += n
		case strings.HasPrefix(answer, "error") || strings.HasPrefix(answer, "status"):
			t.Errorf("%d offers answered %q; want pending, too many offers waiting, or too large", n, answer)
		}
	}
	if large := answers["too large from a stranger"]; large+cut != floodIdentities || large == 0 {
		t.Errorf("%d of the %d 16 MiB offers were refused as too large from a stranger (%d cut)", large, floodIdentities, cut)
	}

	peak := procKB(t, rita.PID(), "VmHWM")
	state := duBytes(t, filepath.Join(rita.Home, "transfers"))
	var ts []api.Transfer
	listTook := timed(func() { ts = rita.Transfers() })
	idTook := timed(func() { rita.CLI("id") })
	mu.Lock()
	slices.Sort(idLatency)
	worstID, medianID := time.Duration(0), time.Duration(0)
	if len(idLatency) > 0 {
		worstID, medianID = idLatency[len(idLatency)-1], idLatency[len(idLatency)/2]
	}
	mu.Unlock()
	t.Logf("node RSS before the flood %s; peak RSS (VmHWM) %s, target < %s", mib(startRSS), mib(peak), mib(floodRSSTarget))
	t.Logf("HOME/transfers %s (du -sb), target < %s", mib(state), mib(floodStateTarget))
	t.Logf("`parley transfers` %s (%d transfers); `parley id` %s after the flood, during it median %s, worst %s of %d, target < 1s",
		listTook.Round(time.Millisecond), len(ts), idTook.Round(time.Millisecond),
		medianID.Round(time.Millisecond), worstID.Round(time.Millisecond), len(idLatency))
	if peak >= floodRSSTarget {
		t.Errorf("peak RSS %s, want < %s", mib(peak), mib(floodRSSTarget))
	}
	if state >= floodStateTarget {
		t.Errorf("HOME/transfers holds %s, want < %s", mib(state), mib(floodStateTarget))
	}
	if n := countState(ts, api.TransferPending); n != transfer.DefaultMaxStrangerOffers {
		t.Errorf("`parley transfers` lists %d pending offers, want %d", n, transfer.DefaultMaxStrangerOffers)
	}

	assertContactGetsThrough(t, rita, fred, "after the flood")

	rita.Stop()
	restartTook := timed(rita.Restart)
	afterRSS := procKB(t, rita.PID(), "VmRSS")
	listTook = timed(func() { ts = rita.Transfers() })
	t.Logf("restart: the node answered %s after it was started; RSS then %s (target < %s); `parley transfers` %s",
		restartTook.Round(time.Millisecond), mib(afterRSS), mib(floodRSSTarget), listTook.Round(time.Millisecond))
	if afterRSS >= floodRSSTarget {
		t.Errorf("RSS after a restart %s, want < %s", mib(afterRSS), mib(floodRSSTarget))
	}
	if n := countState(ts, api.TransferPending); n != transfer.DefaultMaxStrangerOffers {
		t.Errorf("after a restart %d pending offers, want %d", n, transfer.DefaultMaxStrangerOffers)
	}
	testnode.WaitFor(t, 30*time.Second, "Fred connected to Rita again", func() bool { return isOnline(fred.Peers(), rita.Status().PeerID) })
	assertContactGetsThrough(t, rita, fred, "after the restart")
}

func countState(ts []api.Transfer, state string) int {
	n := 0
	for _, t := range ts {
		if t.Direction == "in" && t.State == state {
			n++
		}
	}
	return n
}

// assertContactGetsThrough: Fred, a contact, sends Rita a message and a file; both
// arrive (the file is accepted at once, under the default policy, and checked byte for
// byte).
func assertContactGetsThrough(t *testing.T, rita, fred *testnode.Node, when string) {
	t.Helper()
	rid := rita.Status().PeerID
	testnode.WaitFor(t, 30*time.Second, "Fred connected to Rita", func() bool { return isOnline(fred.Peers(), rid) })
	var res api.SendResult
	fred.JSON(&res, "send", rid, "still there "+when+"?")
	if res.Message.State != api.StateDelivered {
		t.Fatalf("Fred's message %s: %+v", when, res)
	}
	content := make([]byte, 3<<20+17)
	rand.Read(content)
	name := "from-fred-" + strings.ReplaceAll(when, " ", "-") + ".bin"
	src := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(src, content, 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := fred.SendFile(stateTimeout, rid, src)
	if err != nil || tr.State != api.TransferCompleted {
		t.Fatalf("Fred's file %s: %+v %v\nRita's log:\n%s", when, tr, err, tail(rita.Log()))
	}
	got, err := os.ReadFile(filepath.Join(rita.Home, "downloads", name))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("Fred's file %s did not arrive intact: %d bytes, %v", when, len(got), err)
	}
}
