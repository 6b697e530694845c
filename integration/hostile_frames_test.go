package integration

import (
	"bytes"
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
	"github.com/parley-im/parley/node/dm"
	"github.com/parley-im/parley/room"
	"github.com/parley-im/parley/transfer"
)

// Targets of issue 12 for a node under slow-frame attack (figures are logged, RSS is
// asserted because it is the point and it is stable).
const (
	slowRSSTarget = 300 << 20       // bytes of the victim's peak RSS
	idTarget      = time.Second     // `parley id` answering (logged, never asserted)
	slowStreams   = 32              // offer streams per attacker identity
	slowSent      = 15 << 20        // bytes of each maximal OFFER that the attacker really sends
	slowWait      = 3 * time.Second // how long the attack holds before the honest checks
)

// TestSlowFrames: two fresh identities open 64 offer streams on /parley/file/1.0.0, each
// announcing a maximal OFFER frame (16 MiB), sending most of it and then stopping (half
// of them) or trickling a byte a second (the other half), plus slow DM frames and slow
// maximal room invitations. The
// victim's memory stays bounded (frames are paid for as their bytes arrive, and large
// reads have a budget per peer and overall), `parley id` answers, an honest contact's
// message and a small file get through, and the stalled streams are cut by the
// progress deadline.
func TestSlowFrames(t *testing.T) {
	l := newHostileLab(t)
	baseRSS, _ := procMemory(t, l.pid)
	attackers := []*attacker{newAttacker(t, l.vicAddr, ""), newAttacker(t, l.vicAddr, "")}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	cut := make(chan slowEnd, 2*slowStreams)
	start := time.Now()
	for _, a := range attackers {
		for i := range slowStreams {
			wg.Go(func() { slowOffer(a, i%2 == 1, stop, start, cut) })
		}
		for range 8 {
			wg.Go(func() { slowDM(a, stop) })
		}
		for range 4 {
			wg.Go(func() { slowInvite(a, stop) })
		}
	}
	defer func() { close(stop); wg.Wait() }()

	time.Sleep(slowWait)
	idTook := timeID(t, l)
	l.assertHealthy(t, "64 slow offer streams")
	sendSmallFile(t, l)
	idTook2 := timeID(t, l)

	peak, rss := procMemory(t, l.pid)
	t.Logf("victim RSS: peak %.0f MB (target < %d MB), now %.0f MB, before the attack %.0f MB",
		mb(peak), slowRSSTarget>>20, mb(rss), mb(baseRSS))
	t.Logf("`parley id` under attack: %v and %v (target < %v)", idTook.Round(time.Millisecond), idTook2.Round(time.Millisecond), idTarget)
	if peak >= slowRSSTarget {
		t.Errorf("victim's peak RSS is %.0f MB under 64 slow offer streams; want < %d MB", mb(peak), slowRSSTarget>>20)
	}
	assertStalledCut(t, cut)
}

// slowEnd is how one slow offer stream ended: how many bytes the attacker got out, when
// (since the attack began), and whether the victim reset it (not the attacker's own
// deadline).
type slowEnd struct {
	sent  int
	at    time.Duration
	reset bool
}

// slowOffer announces a maximal OFFER on a new stream, sends slowSent bytes of it, then
// stops (or trickles a byte a second) until the victim cuts the stream or stop closes.
// It reports how the stream ended.
func slowOffer(a *attacker, trickle bool, stop <-chan struct{}, start time.Time, cut chan<- slowEnd) {
	st, err := a.open(transfer.ProtocolID)
	if err != nil {
		return
	}
	defer st.Reset()
	head := binary.AppendUvarint(nil, transfer.MaxOfferFrame)
	head = append(head, byte(transfer.TypeOffer))
	if _, err := st.Write(head); err != nil {
		return
	}
	chunk := make([]byte, 256<<10)
	sent := 0
	for ; sent < slowSent; sent += len(chunk) {
		if _, err := st.Write(chunk); err != nil {
			cut <- slowEnd{sent, time.Since(start), errors.Is(err, network.ErrReset)}
			return
		}
	}
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
			cut <- slowEnd{sent, time.Since(start), errors.Is(err, network.ErrReset)}
			return
		case <-tick.C:
			if trickle {
				st.Write([]byte{0})
			}
		}
	}
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

// assertStalledCut: the stalled offer streams end, each on the victim's side, before the
// attackers' own safety net; how long they lived is logged.
func assertStalledCut(t *testing.T, cut <-chan slowEnd) {
	t.Helper()
	refused, held, notReset := 0, 0, 0
	var last time.Duration
	deadline := time.After(ioLimit)
	for refused+held < 2*slowStreams {
		select {
		case e := <-cut:
			if e.sent < slowSent {
				refused++
			} else {
				held++
			}
			if !e.reset {
				notReset++
			}
			last = max(last, e.at)
		case <-deadline:
			t.Errorf("%d of %d slow offer streams still open after %v", 2*slowStreams-refused-held, 2*slowStreams, ioLimit)
			return
		}
	}
	if notReset > 0 {
		t.Errorf("%d slow offer streams ended without a reset from the victim (the attacker's own %v deadline)", notReset, ioLimit)
	}
	t.Logf("slow offer streams: %d cut before their %d MiB were out (refused), %d held and then cut; the last ended %v after the attack began",
		refused, slowSent>>20, held, last.Round(100*time.Millisecond))
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
