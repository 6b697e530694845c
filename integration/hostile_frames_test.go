package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/wire"
	"github.com/parley-im/parley/node/dm"
	"github.com/parley-im/parley/room"
	"github.com/parley-im/parley/transfer"
)

// Targets of issue 12 for a node under slow-frame attack (figures are logged, RSS is
// asserted because it is the point and it is stable).
const (
	slowRSSTarget = 300 << 20       // bytes of the victim's peak RSS
	idTarget      = time.Second     // `parley id` answering (logged, never asserted)
	slowStreams   = 22              // offer streams per attacker identity: 66 in all, as issue 12 asks for 64
	slowWait      = 3 * time.Second // how long the attack holds before the honest checks
	// What the victim's budget of large frames allows one peer at once (node/limits.go:
	// strangerLargeReads, contactLargeReads).
	strangerPlaces = 2
	contactPlaces  = 4
)

// slowKind is one attacker identity's kind of slow offers: how large a frame it
// announces and how much of it it sends before it stalls or trickles.
type slowKind struct {
	name   string
	frame  int // the OFFER frame's announced length (type byte and payload)
	sent   int // bytes of it sent before stalling
	places int // large reads the victim's budget lets it hold
}

var (
	// A stranger may send an OFFER of transfer.DefaultStrangerOfferFrame (2 MiB); this
	// one is 1 MiB, and opens with a valid transfer id, so the victim reads it (an
	// oversized one, or one whose id it cannot see, is refused from its first bytes).
	strangerSlow = slowKind{"stranger", 1 << 20, 960 << 10, strangerPlaces}
	// A contact may send transfer.MaxOfferFrame (16 MiB).
	contactSlow = slowKind{"contact", transfer.MaxOfferFrame, 15 << 20, contactPlaces}
)

// TestSlowFrames: two strangers and a contact of the victim each open slowStreams offer
// streams on /parley/file/1.0.0, each announcing a large OFFER (1 MiB from the strangers,
// 16 MiB from the contact) that opens with a valid transfer id, sending most of it and
// then stopping (half of them) or trickling a byte a second (the other half), while a
// fourth identity sends slow DM frames and slow maximal room invitations. The victim (built without -race, so its
// memory is the product's) reads as many of each peer's offers as its budget of large
// frames gives it places (held) and refuses the others at once (reset); every held
// stream is cut by the victim's progress deadline; its memory stays bounded, `parley
// id` answers, and an honest contact's message and a small file get through.
func TestSlowFrames(t *testing.T) {
	// Plain: the victim's memory is the figure; debug: its log says why it cut a stream.
	l := newHostileLabWith(t, true, "--log-level", "debug")
	baseRSS, _ := procMemory(t, l.pid)
	strangers := []*attacker{newAttacker(t, l.vicAddr, ""), newAttacker(t, l.vicAddr, "")}
	contact, noise := newAttacker(t, l.vicAddr, ""), newAttacker(t, l.vicAddr, "")
	l.victim.CLI("contacts", "add", "--name", "Mona", contact.h.ID().String())

	var wg sync.WaitGroup
	stop := make(chan struct{})
	type run struct {
		kind slowKind
		a    *attacker
		ends chan slowEnd
	}
	runs := []run{{strangerSlow, strangers[0], nil}, {strangerSlow, strangers[1], nil}, {contactSlow, contact, nil}}
	start := time.Now()
	for i := range runs {
		r := &runs[i]
		r.ends = make(chan slowEnd, slowStreams)
		for j := range slowStreams {
			wg.Go(func() { slowOffer(r.a, r.kind, j%2 == 1, stop, start, r.ends) })
		}
	}
	for range 8 { // from another stranger: invites are large frames and would take places
		wg.Go(func() { slowDM(noise, stop) })
		wg.Go(func() { slowInvite(noise, stop) })
	}
	defer func() { close(stop); wg.Wait() }()

	time.Sleep(slowWait)
	idTook := timeID(t, l)
	l.assertHealthy(t, "slow offer streams")
	sendSmallFile(t, l)
	idTook2 := timeID(t, l)

	for i, r := range runs {
		held := assertStalledCut(t, fmt.Sprintf("%s %d", r.kind.name, i), r.kind, r.ends)
		assertCutByDeadline(t, l, r.a, held)
	}
	peak, rss := procMemory(t, l.pid)
	t.Logf("victim RSS: peak %.0f MB (target < %d MB), now %.0f MB, before the attack %.0f MB",
		mb(peak), slowRSSTarget>>20, mb(rss), mb(baseRSS))
	t.Logf("`parley id` under attack: %v and %v (target < %v)", idTook.Round(time.Millisecond), idTook2.Round(time.Millisecond), idTarget)
	if peak >= slowRSSTarget {
		t.Errorf("victim's peak RSS is %.0f MB under slow offer streams; want < %d MB", mb(peak), slowRSSTarget>>20)
	}
}

// slowEnd is how one slow offer stream ended: whether the attacker got all it meant to
// send out (the victim was reading it: held), when the stream ended (since the attack
// began) and how long after the attacker stalled, and whether the victim reset it (not
// the attacker's own deadline).
type slowEnd struct {
	held        bool
	at, stalled time.Duration
	reset       bool
}

// slowOffer announces an OFFER of k.frame bytes whose payload opens with a fresh
// transfer id, sends k.sent bytes of it, then stops (or trickles a byte a second) until
// the victim cuts the stream or stop closes. It reports how the stream ended.
func slowOffer(a *attacker, k slowKind, trickle bool, stop <-chan struct{}, start time.Time, ends chan<- slowEnd) {
	st, err := a.open(transfer.ProtocolID)
	if err != nil {
		ends <- slowEnd{at: time.Since(start), reset: errors.Is(err, network.ErrReset)}
		return
	}
	defer st.Reset()
	head := binary.AppendUvarint(nil, uint64(k.frame))
	head = append(head, byte(transfer.TypeOffer), 0x0a, transfer.IDLen)
	head = append(head, randomID()...)
	sent := 1 + 2 + transfer.IDLen // of the frame: the type byte and the id field
	if _, err := st.Write(head); err != nil {
		ends <- slowEnd{at: time.Since(start), reset: errors.Is(err, network.ErrReset)}
		return
	}
	chunk := make([]byte, 64<<10)
	for sent < k.sent {
		n := min(len(chunk), k.sent-sent)
		if _, err := st.Write(chunk[:n]); err != nil {
			ends <- slowEnd{at: time.Since(start), reset: errors.Is(err, network.ErrReset)}
			return
		}
		sent += n
	}
	stalled := time.Now()
	ended := make(chan error, 1)
	go func() { // a reset from the victim ends this read
		_, err := st.Read(make([]byte, 1))
		ended <- err
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case err := <-ended:
			ends <- slowEnd{held: true, at: time.Since(start), stalled: time.Since(stalled), reset: errors.Is(err, network.ErrReset)}
			return
		case <-tick.C:
			if trickle {
				st.Write([]byte{0})
			}
		}
	}
}

// randomID is a fresh transfer id's 16 bytes.
func randomID() []byte {
	id := make([]byte, transfer.IDLen)
	rand.Read(id)
	return id
}

// slowDM announces a maximal DM frame, sends ten bytes of it and waits.
func slowDM(a *attacker, stop <-chan struct{}) {
	st, err := a.open(dm.ProtocolID)
	if err != nil {
		return
	}
	defer st.Reset()
	st.Write(append(binary.AppendUvarint(nil, dm.MaxFrame), make([]byte, 10)...))
	<-stop
}

// slowInvite announces a maximal room invitation (a large frame, from a stranger), sends
// 100 KiB of it and waits.
func slowInvite(a *attacker, stop <-chan struct{}) {
	st, err := a.open(room.InviteProtocol)
	if err != nil {
		return
	}
	defer st.Reset()
	st.Write(append(binary.AppendUvarint(nil, room.MaxInvite), make([]byte, 100<<10)...))
	<-stop
}

// timeID runs `parley id` on the victim and returns how long it took.
func timeID(t *testing.T, l *hostileLab) time.Duration {
	t.Helper()
	begin := time.Now()
	var st api.Status
	l.victim.JSON(&st, "id")
	if st.PeerID != l.vicID {
		t.Fatalf("`parley id` under attack says %q", st.PeerID)
	}
	return time.Since(begin)
}

// sendSmallFile: Hal, a contact, sends Vic a small file, which arrives.
func sendSmallFile(t *testing.T, l *hostileLab) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "honest.txt")
	content := []byte("an honest file, sent while strangers stall their frames\n")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := l.honest.SendFile(time.Minute, l.vicID, path)
	if err != nil || tr.State != api.TransferCompleted {
		t.Fatalf("Hal's file under attack: %q, %v\nvictim log:\n%s", tr.State, err, tail(l.victim.Log()))
	}
}

// assertStalledCut: every slow offer stream of one attacker ends, each reset by the
// victim before the attacker's own safety net (ioLimit): some were held (read while
// they arrived, at most the places the budget gives the peer) and then cut by the
// progress deadline after the attacker stalled; the budget refused the others at once.
// The counts and how long after the stall the held ones were cut are logged.
func assertStalledCut(t *testing.T, who string, k slowKind, ends <-chan slowEnd) (held int) {
	t.Helper()
	refused, notReset := 0, 0
	var last time.Duration
	minCut, maxCut := time.Duration(1<<62), time.Duration(0)
	deadline := time.After(ioLimit)
	for refused+held < slowStreams {
		select {
		case e := <-ends:
			if e.held {
				held++
				minCut, maxCut = min(minCut, e.stalled), max(maxCut, e.stalled)
			} else {
				refused++
			}
			if !e.reset {
				notReset++
			}
			last = max(last, e.at)
		case <-deadline:
			t.Errorf("%s: %d of %d slow offer streams still open after %v (%d held and cut, %d refused so far): the progress deadline did not cut them",
				who, slowStreams-refused-held, slowStreams, ioLimit, held, refused)
			return held
		}
	}
	t.Logf("%s (%d KiB offers): %d streams held (target: 1 to %d, the budget's places), %d refused at once (target %d), all cut by the victim: held ones %v to %v after they stalled (progress window %v); the last ended %v after the attack began",
		who, k.frame>>10, held, k.places, refused, slowStreams-k.places, minCut.Round(100*time.Millisecond), maxCut.Round(100*time.Millisecond),
		wire.DefaultProgress, last.Round(100*time.Millisecond))
	if held == 0 {
		t.Errorf("%s: no slow offer stream was held: the victim refused all %d, so the test measured nothing", who, slowStreams)
	}
	if held > k.places {
		t.Errorf("%s: the victim held %d large offers of one peer at once; its budget gives a %s %d", who, held, k.name, k.places)
	}
	if notReset > 0 {
		t.Errorf("%s: %d slow offer streams ended without a reset from the victim (the attacker's own %v deadline)", who, notReset, ioLimit)
	}
	return held
}

// assertCutByDeadline: the victim's log says it reset held of a's file streams because
// a read deadline passed inside a frame's body (the progress deadline, which replaces
// the 30 s frame deadline set before the frame's first byte), not for another reason.
func assertCutByDeadline(t *testing.T, l *hostileLab, a *attacker, held int) {
	t.Helper()
	peer := "peer=" + a.h.ID().String()
	count := func() int {
		n := 0
		for _, line := range strings.Split(l.victim.Log(), "\n") {
			if strings.Contains(line, `msg="file stream reset"`) && strings.Contains(line, peer) &&
				strings.Contains(line, "read frame body") && strings.Contains(line, "deadline") {
				n++
			}
		}
		return n
	}
	for end := time.Now().Add(5 * time.Second); count() < held && time.Now().Before(end); { // the log line follows the reset
		time.Sleep(50 * time.Millisecond)
	}
	if count() != held {
		t.Errorf("the victim's log has %d file streams of %s reset at a deadline inside a frame's body; want the %d it held", count(), a.h.ID(), held)
	}
}

// procMemory reads a process's peak (VmHWM) and current (VmRSS) resident set in bytes.
func procMemory(t *testing.T, pid int) (peak, rss int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the victim's memory: %v", err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			peak = kb << 10
		case "VmRSS:":
			rss = kb << 10
		}
	}
	return peak, rss
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
