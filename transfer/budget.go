package transfer

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/wire"
)

// What strangers (peers Config.IsContact calls no contact) may leave waiting. Peer IDs
// are free, so these bound all strangers together, not each one.
const (
	// DefaultMaxStrangerOffers is how many strangers' offers may wait for Accept at once.
	DefaultMaxStrangerOffers = 32
	// DefaultMaxStrangerOfferBytes bounds the file lists (OFFER payloads) of those offers
	// together: what they take on disk in StateDir.
	DefaultMaxStrangerOfferBytes = 64 << 20
	// DefaultStrangerOfferFrame caps one stranger's OFFER frame: about 20 000 small files
	// or 64 GiB in one file. Contacts may send MaxOfferFrame.
	DefaultStrangerOfferFrame = 2 << 20
	// DefaultPendingExpiry is how long an offer waits for Accept before it expires and
	// its file list is deleted: a day, so an offer made in the evening is still there in
	// the morning, while a flood of offers cannot stay.
	DefaultPendingExpiry = 24 * time.Hour
)

// MaxListedFiles is how many files List and OnEvent show per transfer (Info.Files);
// Info.FileCount counts them all, and Get lists every file.
const MaxListedFiles = 10

// maxTombstones bounds the tombstones kept (offers that expired, strangers' offers
// canceled while they waited) to tell their senders.
const maxTombstones = 4096

// summary is what a transfer shows without its manifest: persisted in its record, so a
// pending offer's file list stays on disk until Accept.
type summary struct {
	Files int        `json:"files"`          // entries
	Total int64      `json:"total"`          // bytes of all files
	Bytes int64      `json:"manifest_bytes"` // size of the encoded file list
	First []FileInfo `json:"first,omitempty"`
	Name  string     `json:"name,omitempty"` // see Info.Name; older records lack it
	Dirs  int        `json:"dirs,omitempty"` // the entries that are folders; older records lack it
}

func summarize(man *Manifest, encoded int) summary {
	s := summary{Files: len(man.Entries), Total: man.TotalSize(), Bytes: int64(encoded)}
	paths := make([]string, len(man.Entries))
	for i := range man.Entries {
		e := &man.Entries[i]
		paths[i] = e.Path
		if e.Kind == KindDir {
			s.Dirs++
		}
		if i < MaxListedFiles {
			s.First = append(s.First, FileInfo{Path: e.Path, Dir: e.Kind == KindDir, Size: e.Size})
		}
	}
	s.Name = displayName(paths)
	return s
}

// displayName names a transfer of these paths for people: its one top-level file or
// folder ("report.pdf", "photos"), or the first of several ("a.txt and 2 more").
func displayName(paths []string) string {
	var first string
	tops := map[string]bool{}
	for _, p := range paths {
		top, _, _ := strings.Cut(p, "/")
		if first == "" {
			first = top
		}
		tops[top] = true
	}
	if len(tops) > 1 {
		return fmt.Sprintf("%s and %d more", first, len(tops)-1)
	}
	return first
}

// name is s.Name, or for a summary written before it existed, the top-level name of
// its first file.
func (s *summary) name() string {
	if s.Name != "" || len(s.First) == 0 {
		return s.Name
	}
	top, _, _ := strings.Cut(s.First[0].Path, "/")
	return top
}

// valid reports whether a summary read back from disk is one summarize could make.
func (s *summary) valid() bool {
	return s.Files > 0 && s.Files <= MaxEntries && s.Dirs >= 0 && s.Dirs <= s.Files && s.Total >= 0 && s.Bytes >= 0 && s.Bytes <= MaxOfferFrame &&
		len(s.First) <= min(s.Files, MaxListedFiles)
}

// strangerLoad counts the strangers' offers waiting for Accept and their file lists.
func (m *Manager) strangerLoad() (n int, bytes int64) {
	m.mu.Lock()
	ts := make([]*transfer, 0, len(m.transfers))
	for _, t := range m.transfers {
		if t.dir == DirIn {
			ts = append(ts, t)
		}
	}
	m.mu.Unlock()
	for _, t := range ts {
		t.mu.Lock()
		pending, b := t.state == StatePending, t.sum.Bytes
		t.mu.Unlock()
		if pending && !m.cfg.IsContact(t.peer) {
			n, bytes = n+1, bytes+b
		}
	}
	return n, bytes
}

// budgetRefusal says why one more stranger's offer of size bytes cannot wait, or "".
// A caller about to admit the offer holds m.admitMu.
func (m *Manager) budgetRefusal(size int64) string {
	n, used := m.strangerLoad()
	if n < m.cfg.MaxStrangerOffers && used+size <= m.cfg.MaxStrangerOfferBytes {
		return ""
	}
	return fmt.Sprintf("too many offers waiting: this receiver already has %d offers (%s of file lists) from people "+
		"who are not its contacts waiting for an answer (at most %d, %s); try again later, or ask to be added as a contact",
		n, humanBytes(used), m.cfg.MaxStrangerOffers, humanBytes(m.cfg.MaxStrangerOfferBytes))
}

// offerCap is the largest OFFER frame a peer may send.
func (m *Manager) offerCap(p peer.ID) uint64 {
	if m.cfg.IsContact(p) {
		return MaxOfferFrame
	}
	return uint64(m.cfg.StrangerOfferFrame)
}

// refuseEarly answers an OFFER it can refuse from its first bytes, before its body is
// read into memory: one over its peer's cap (but within MaxOfferFrame), or a stranger's
// offer that would wait while the strangers' budget is full. It reads past the frame
// (allocating nothing for it) and answers rejected, so the sender learns why. It reports
// false, with nothing consumed, for every other stream. A stranger's OFFER that does
// not open with its id (field 1, as AppendOffer writes it) resets the stream.
func (m *Manager) refuseEarly(st network.Stream, r *bufio.Reader) (bool, error) {
	from := st.Conn().RemotePeer()
	n, hdr, ok := peekHeader(r)
	if !ok || n > MaxOfferFrame {
		return false, nil
	}
	id, idOK := peekOfferID(r, hdr, n)
	limit := m.offerCap(from)
	var reason string
	switch {
	case !idOK && !m.cfg.IsContact(from):
		return true, fmt.Errorf("%w: an OFFER of %d bytes from a stranger that does not open with its id", ErrMalformed, n)
	case n > limit:
		reason = fmt.Sprintf("too large: the list of files in this offer is %s, and this receiver takes at most %s "+
			"from someone who is not a contact; ask to be added as a contact, or send fewer files at once",
			humanBytes(int64(n)), humanBytes(int64(limit)))
	case idOK && m.mayWait(from, id):
		reason = m.budgetRefusal(int64(n) - 1)
	}
	if reason == "" {
		return false, nil
	}
	if err := discardFrame(st, r, int64(hdr)+int64(n)); err != nil {
		return true, readError("body", err)
	}
	if m.cfg.OfferLimit != nil && m.cfg.OfferLimit.Allow(from).Abusive {
		m.cfg.Host.Network().ClosePeer(from)
		return true, errFlooding
	}
	m.log.Info("rejected a file offer", "peer", from, "id", id, "reason", reason)
	return true, writeFrame(st, AppendAnswer(nil, Answer{ID: id, Status: StatusRejected, Reason: reason}))
}

// mayWait reports whether an offer id from peer p may wait in the strangers' budget:
// p is a stranger, and id is not one of p's own transfers (a re-offer, answered from
// the transfer). It is decided from the id alone, before the offer is read: an id that
// ended while it waited counts (a fresh send of it would wait), and so does another
// peer's id (which the offer cannot match).
func (m *Manager) mayWait(p peer.ID, id string) bool {
	if m.firstState(p) != StatePending || m.cfg.IsContact(p) {
		return false
	}
	t := m.get(id)
	return t == nil || t.peer != p
}

// peekHeader looks at a frame's length prefix without consuming it: the length, the
// bytes of the prefix, and whether it is an OFFER's.
func peekHeader(r *bufio.Reader) (n uint64, hdr int, ok bool) {
	for i := 1; i <= binary.MaxVarintLen64; i++ {
		b, err := r.Peek(i)
		if err != nil {
			return 0, 0, false
		}
		if b[i-1] < 0x80 {
			n, k := binary.Uvarint(b)
			if k <= 0 {
				return 0, 0, false
			}
			t, err := r.Peek(k + 1)
			return n, k, err == nil && FrameType(t[k]) == TypeOffer
		}
	}
	return 0, 0, false
}

// peekOfferID reads, without consuming it, the transfer id that opens the payload of an
// OFFER of n bytes (field 1, 16 bytes, as AppendOffer writes it first).
func peekOfferID(r *bufio.Reader, hdr int, n uint64) (string, bool) {
	if n < 1+2+IDLen { // too short to hold it: peek nothing past the frame
		return "", false
	}
	b, err := r.Peek(hdr + 1 + 2 + IDLen)
	if err != nil {
		return "", false
	}
	f := b[hdr+1:]
	if f[0] != 0x0a || f[1] != IDLen {
		return "", false
	}
	return hex.EncodeToString(f[2:]), true
}

// expireLoop expires pending offers as they pass Config.PendingExpiry. It ends with
// the Manager's context.
func (m *Manager) expireLoop() {
	every := min(max(m.cfg.PendingExpiry/8, 50*time.Millisecond), time.Minute)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
			m.expirePending(time.Now())
		}
	}
}

// expirePending deletes every incoming offer that has waited for Accept longer than
// Config.PendingExpiry: its state and manifest files go, and the sender is told if it
// offers it again.
func (m *Manager) expirePending(now time.Time) {
	m.mu.Lock()
	var old []*transfer
	for _, t := range m.transfers {
		if t.dir == DirIn {
			old = append(old, t)
		}
	}
	m.mu.Unlock()
	for _, t := range old {
		t.mu.Lock()
		due := t.state == StatePending && now.Sub(t.updated) > m.cfg.PendingExpiry
		t.mu.Unlock()
		if due {
			m.expire(t)
		}
	}
}

// expire ends a pending offer (an Accept at the same moment finds it no longer pending)
// and forgets it: its files go, its id is remembered to tell its sender.
func (m *Manager) expire(t *transfer) {
	t.mu.Lock()
	ok := t.state == StatePending && t.setLocked(StateRejected, m.expiredReason(), false)
	t.mu.Unlock()
	if !ok {
		return
	}
	m.stopRunner(t)
	if !m.forget(t, StateRejected) {
		return
	}
	m.log.Info("a file offer expired unanswered", "id", t.id, "peer", t.peer)
	m.emit(t)
}

func (m *Manager) expiredReason() string {
	return fmt.Sprintf("expired: nobody accepted it within %s; send the files again to offer them anew", m.cfg.PendingExpiry)
}

// canceledWaitingReason answers a re-offer of a stranger's offer canceled while it waited.
const canceledWaitingReason = "canceled while it waited to be accepted; send the files again to offer them anew"

// tombstoneLocked remembers the id of an offer that ended in state s while it waited;
// m.mu is held. When full, the oldest half is forgotten.
func (m *Manager) tombstoneLocked(id string, s State) {
	if len(m.ended) >= maxTombstones {
		times := make([]time.Time, 0, len(m.ended))
		for _, tb := range m.ended {
			times = append(times, tb.At)
		}
		slices.SortFunc(times, time.Time.Compare)
		median := times[len(times)/2]
		for k, tb := range m.ended {
			if !tb.At.After(median) {
				delete(m.ended, k)
			}
		}
	}
	m.ended[id] = tombstone{At: time.Now(), State: s}
}

// saveTombstones writes the tombstones to StateDir/expired-offers (JSON), so a sender
// that offers one again after a restart is still told. A failure is logged: at worst
// such an offer waits again, within the budget.
func (m *Manager) saveTombstones() {
	m.tombMu.Lock()
	defer m.tombMu.Unlock()
	m.mu.Lock()
	ids := maps.Clone(m.ended)
	m.mu.Unlock()
	if err := m.store.saveExpired(ids); err != nil {
		m.log.Warn("cannot save the ids of offers that ended while they waited", "err", err)
	}
}

// endedAnswer answers an automatic re-offer of an offer that ended while it waited. A
// fresh offer (the sender's user ran Send again) is a new offer: its id is forgotten.
func (m *Manager) endedAnswer(id string, fresh bool) (Answer, bool) {
	m.mu.Lock()
	tb, ok := m.ended[id]
	if fresh {
		delete(m.ended, id)
	}
	m.mu.Unlock()
	switch {
	case !ok || fresh:
		return Answer{}, false
	case tb.State == StateCanceled:
		return Answer{ID: id, Status: StatusCanceled, Reason: canceledWaitingReason}, true
	}
	return Answer{ID: id, Status: StatusRejected, Reason: m.expiredReason()}, true
}

// discardFrame reads past n bytes of a frame refused from its first bytes, under the
// progress deadline of large frames (wire.DefaultMinProgress each wire.DefaultProgress)
// rather than one deadline for the whole frame: a slow sender still hears why, and one
// that stalls is cut.
func discardFrame(st network.Stream, r *bufio.Reader, n int64) error {
	for n > 0 {
		step := min(n, wire.DefaultMinProgress)
		st.SetReadDeadline(time.Now().Add(wire.DefaultProgress))
		if _, err := io.CopyN(io.Discard, r, step); err != nil {
			return readError("body", err)
		}
		n -= step
	}
	st.SetReadDeadline(time.Now().Add(frameTimeout))
	return nil
}
