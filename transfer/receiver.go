package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// maxPendingPerPeer bounds the offers one contact can leave waiting for Accept (each is
// persisted with its manifest). Strangers share Config.MaxStrangerOffers instead.
const maxPendingPerPeer = 32

// handleOffer answers an OFFER. A malformed frame resets the stream; an offer that breaks
// a rule (unsafe name, too large, no room) is answered rejected with the reason.
func (m *Manager) handleOffer(st network.Stream, p []byte) error {
	o, err := ParseOffer(p)
	if err != nil {
		return err
	}
	o.size = len(p)
	from := st.Conn().RemotePeer()
	a, err := m.limitedAnswer(from, o)
	if err != nil {
		m.cfg.Host.Network().ClosePeer(from)
		return err
	}
	return writeFrame(st, AppendAnswer(nil, a))
}

// errFlooding means a peer kept offering while over its rate limit.
var errFlooding = errors.New("peer kept sending offers over its rate limit; closing its connections")

// limitedAnswer answers an offer unless from is over its offer rate limit.
func (m *Manager) limitedAnswer(from peer.ID, o Offer) (Answer, error) {
	if m.cfg.OfferLimit == nil {
		return m.answerOffer(from, o), nil
	}
	d := m.cfg.OfferLimit.Allow(from)
	if d.Allowed {
		return m.answerOffer(from, o), nil
	}
	if d.FirstRefusal() || d.Abusive {
		m.log.Warn("peer over its file-offer rate limit; refusing its offers",
			"peer", from, "refused", d.Refused, "closing", d.Abusive)
	}
	if d.Abusive {
		return Answer{}, errFlooding
	}
	return Answer{ID: o.ID, Status: StatusRejected, Reason: "too many offers from you: try again in a minute"}, nil
}

func (m *Manager) answerOffer(from peer.ID, o Offer) Answer {
	if m.mayWait(from, o.ID) {
		// Before the costly checks (refuseEarly did this before reading the frame; the
		// budget may have filled since): answerNew checks again, under admitMu.
		if reason := m.budgetRefusal(int64(o.size)); reason != "" {
			return m.reject(from, o, reason)
		}
	}
	if err := o.Manifest.Validate(); err != nil {
		return m.reject(from, o, err.Error())
	}
	if TransferID(from, m.cfg.Host.ID(), &o.Manifest) != o.ID {
		return m.reject(from, o, "the transfer id does not match the offer")
	}
	if t := m.get(o.ID); t != nil {
		return m.answerKnown(t, &o)
	}
	if a, ok := m.endedAnswer(o.ID, o.Fresh); ok {
		return a
	}
	return m.answerNew(from, o)
}

// reject answers rejected and tells OnEvent, without keeping anything of the offer.
func (m *Manager) reject(from peer.ID, o Offer, reason string) Answer {
	m.log.Info("rejected a file offer", "peer", from, "id", o.ID, "reason", reason)
	now := time.Now()
	m.emitInfo(Info{
		ID: o.ID, Direction: DirIn, Peer: from, State: StateRejected, Error: reason,
		TotalBytes: sizeOf(&o.Manifest), StartedAt: now, UpdatedAt: now,
	})
	return Answer{ID: o.ID, Status: StatusRejected, Reason: reason}
}

// sizeOf is TotalSize of a manifest that may not have been validated.
func sizeOf(man *Manifest) int64 {
	if checkTotal(man.Entries) != nil {
		return 0
	}
	return man.TotalSize()
}

var stateAnswers = map[State]Status{
	StateCompleted:   StatusCompleted,
	StateQuarantined: StatusQuarantined,
	StateFailed:      StatusFailed,
	StateCanceled:    StatusCanceled,
	StateRejected:    StatusRejected,
}

// answerKnown answers an offer of a transfer we already have: a sender that restarted,
// lost an answer, or whose user ran the same Send again.
func (m *Manager) answerKnown(t *transfer, o *Offer) Answer {
	t.mu.Lock()
	s, reason := t.state, t.errMsg
	t.mu.Unlock()
	switch {
	case s == StatePending:
		return Answer{ID: t.id, Status: StatusPending}
	case !s.Terminal():
		m.startRunner(t) // wakes a runner waiting out a backoff
		return Answer{ID: t.id, Status: StatusAccepted}
	case o.Fresh && (s == StateFailed || s == StateCanceled):
		return m.restart(t, o)
	}
	return Answer{ID: t.id, Status: stateAnswers[s], Reason: reason}
}

// restart gives a failed or canceled incoming transfer a new start on a fresh offer,
// keeping whatever verified data is still on disk. A stranger's restart that would
// wait for Accept needs room in the strangers' budget, like a new offer.
func (m *Manager) restart(t *transfer, o *Offer) Answer {
	if reason := m.refusal(t.peer, t.totalSize()); reason != "" {
		return Answer{ID: t.id, Status: StatusRejected, Reason: reason}
	}
	s := m.firstState(t.peer)
	if s == StatePending && !m.cfg.IsContact(t.peer) {
		m.admitMu.Lock()
		defer m.admitMu.Unlock()
		if reason := m.budgetRefusal(int64(o.size)); reason != "" {
			return Answer{ID: t.id, Status: StatusRejected, Reason: reason}
		}
	}
	t.mu.Lock()
	dropped := t.man == nil // canceled while it waited (its manifest was dropped): the offer brings it back
	t.mu.Unlock()
	if dropped {
		if err := m.store.saveManifest(t.id, &o.Manifest); err != nil {
			return Answer{ID: t.id, Status: StatusRejected, Reason: "the receiver cannot save the transfer's state"}
		}
	}
	t.mu.Lock()
	if t.gone || (t.man == nil && !dropped) { // it ended while it waited, just now: forgotten, or its manifest dropped
		gone := t.gone
		t.mu.Unlock()
		if gone && dropped && m.get(t.id) == nil {
			os.Remove(m.store.manifestPath(t.id)) // the one just saved
		}
		return Answer{ID: t.id, Status: StatusCanceled, Reason: canceledWaitingReason}
	}
	if s == StatePending { // waits with its summary only; the manifest stays on disk
		t.man, t.sum = nil, summarize(&o.Manifest, o.size)
	} else if t.man == nil {
		t.man = &o.Manifest
	}
	t.sum.Bytes = int64(o.size)
	t.resetProgress()
	t.notified, t.names = false, nil
	t.setLocked(s, "", true)
	t.mu.Unlock()
	m.persist(t)
	m.emit(t)
	m.startRunner(t)
	return Answer{ID: t.id, Status: statusOf(s)}
}

// answerNew takes a valid new offer: accepted at once, or pending (its manifest on disk
// only) within the per-contact limit or the strangers' shared budget.
func (m *Manager) answerNew(from peer.ID, o Offer) Answer {
	if reason := m.refusal(from, o.Manifest.TotalSize()); reason != "" {
		return m.reject(from, o, reason)
	}
	s := m.firstState(from)
	stranger := s == StatePending && !m.cfg.IsContact(from)
	if stranger {
		m.admitMu.Lock() // until the offer is in m.transfers, where strangerLoad counts it
		defer m.admitMu.Unlock()
		if reason := m.budgetRefusal(int64(o.size)); reason != "" {
			return m.reject(from, o, reason)
		}
	} else if s == StatePending && m.pendingFrom(from) >= maxPendingPerPeer {
		return m.reject(from, o, fmt.Sprintf("%d offers from you already wait to be accepted", maxPendingPerPeer))
	}
	var t *transfer
	if s == StatePending {
		t = newTransfer(o.ID, DirIn, from, nil) // its manifest waits on disk until Accept
		t.sum = summarize(&o.Manifest, o.size)
	} else {
		t = newTransfer(o.ID, DirIn, from, &o.Manifest)
		t.sum.Bytes = int64(o.size)
	}
	t.state = s
	m.mu.Lock()
	if old := m.transfers[o.ID]; old != nil { // the same offer on two streams at once
		m.mu.Unlock()
		return m.answerKnown(old, &o)
	}
	m.transfers[o.ID] = t
	m.mu.Unlock()
	if err := m.saveNew(t, &o.Manifest); err != nil {
		return m.reject(from, o, "the receiver cannot save the transfer's state")
	}
	m.logOffer(t, s)
	if s == StateTransferring {
		m.startRunner(t)
	}
	return Answer{ID: t.id, Status: statusOf(s)}
}

// logOffer notes a new offer taken: receiving at once, or waiting for Accept.
func (m *Manager) logOffer(t *transfer, s State) {
	info := t.info()
	msg := "receiving files"
	if s == StatePending {
		msg = "a file offer waits for you: accept with `parley transfers accept " + ShortID(info.ID) + "`"
	}
	m.log.Info(msg, "peer", info.Peer, "id", info.ID, "name", info.Name, "files", info.FileCount, "bytes", info.TotalBytes)
}

// ShortID is the prefix of a transfer ID that people are shown and type: any unique
// prefix names a transfer.
func ShortID(id string) string { return id[:min(len(id), 8)] }

// firstState applies the policy: accepted now, or pending until Accept.
func (m *Manager) firstState(from peer.ID) State {
	switch {
	case m.cfg.Policy == AcceptAny:
		return StateTransferring
	case m.cfg.Policy == AcceptContacts && m.cfg.IsContact(from):
		return StateTransferring
	}
	return StatePending
}

func statusOf(s State) Status {
	if s == StatePending {
		return StatusPending
	}
	return StatusAccepted
}

func (m *Manager) pendingFrom(p peer.ID) int {
	m.mu.Lock()
	ts := make([]*transfer, 0, len(m.transfers))
	for _, t := range m.transfers {
		if t.peer == p && t.dir == DirIn {
			ts = append(ts, t)
		}
	}
	m.mu.Unlock()
	n := 0
	for _, t := range ts {
		if t.getState() == StatePending {
			n++
		}
	}
	return n
}

// refusal says why an offer of total bytes cannot be taken, or "".
func (m *Manager) refusal(from peer.ID, total int64) string {
	if m.cfg.MaxSize > 0 && total > m.cfg.MaxSize {
		return fmt.Sprintf("too large: %s, and this receiver takes at most %s per transfer", humanBytes(total), humanBytes(m.cfg.MaxSize))
	}
	if err := m.checkSpace(total); err != nil {
		return err.Error()
	}
	return ""
}

// checkSpace fails when the downloads folder has less than need bytes free.
func (m *Manager) checkSpace(need int64) error {
	return spaceFor(m.cfg.Downloads, need, freeSpace)
}

// spaceFor is checkSpace with the free-space probe as a parameter (tests fake it).
func spaceFor(dir string, need int64, free func(string) (int64, error)) error {
	avail, err := free(dir)
	if err != nil {
		return nil // unknown on this system: let the write fail clearly instead
	}
	if need > avail {
		return fmt.Errorf("not enough free disk space: the transfer needs %s and %s has %s free",
			humanBytes(need), dir, humanBytes(avail))
	}
	return nil
}

// errWaitAccept: an incoming transfer has nothing to do until Accept.
var errWaitAccept = errors.New("waiting for Accept")

// runIn drives an incoming transfer: it re-verifies what is on disk, pulls what is
// missing, verifies, scans, releases, and tells the sender; it pauses and retries with
// backoff while the sender is gone or the disk refuses.
func (m *Manager) runIn(ctx context.Context, t *transfer, done chan struct{}) {
	backoff := retryMin
	for !t.idle(done) {
		err := m.stepIn(ctx, t)
		if ctx.Err() != nil {
			return
		}
		wait := backoff
		switch {
		case err == nil:
			backoff = retryMin
			continue
		case errors.Is(err, errWaitAccept):
			wait, backoff = time.Hour, retryMin
		default:
			backoff = nextBackoff(backoff)
		}
		if !sleep(ctx, t, wait) {
			return
		}
	}
}

func (m *Manager) stepIn(ctx context.Context, t *transfer) error {
	switch s := t.getState(); {
	case s == StatePending:
		return errWaitAccept
	case s.Terminal():
		return m.notifyDone(ctx, t)
	}
	if err := m.verifyOnce(ctx, t); err != nil {
		return m.pause(t, err)
	}
	start := time.Now()
	if err := m.pull(ctx, t); err != nil {
		return m.pullFailed(ctx, t, err)
	}
	m.log.Debug("pulled", "id", t.id, "took", time.Since(start))
	return m.complete(ctx, t)
}

// pause moves t to paused with err as the reason, and returns err.
func (m *Manager) pause(t *transfer, err error) error {
	m.transition(t, StatePaused, errorText(err), false)
	return err
}

// pullFailed decides what a failed pull means: the sender canceled, the transfer cannot
// succeed (failed), or something that may clear (paused).
func (m *Manager) pullFailed(ctx context.Context, t *transfer, err error) error {
	if ctx.Err() != nil {
		return err
	}
	var pe *peerError
	if errors.As(err, &pe) && pe.Code == CodeCanceled {
		m.canceledByPeer(t, pe.Reason)
		return nil
	}
	if isFatal(err) {
		m.transition(t, StateFailed, errorText(err), false)
		return nil
	}
	return m.pause(t, err)
}

// canceledByPeer is cancelLocal for the runner itself, whose pull has already stopped.
func (m *Manager) canceledByPeer(t *transfer, reason string) {
	t.mu.Lock()
	ok := t.setLocked(StateCanceled, joinReason("canceled by the peer", reason), false)
	t.notified = true
	t.mu.Unlock()
	if ok {
		m.persist(t)
		m.emit(t)
		m.removeStaging(t)
	}
}

// notifyDone tells the sender how an incoming transfer ended, until it acknowledges.
func (m *Manager) notifyDone(ctx context.Context, t *transfer) error {
	t.mu.Lock()
	s, reason, notified := t.state, t.errMsg, t.notified
	t.mu.Unlock()
	status, ok := stateAnswers[s]
	if notified || !ok || s == StateCanceled || s == StateRejected {
		m.setNotified(t)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	p, err := m.request(ctx, t.peer, AppendDone(nil, Done{ID: t.id, Status: status, Reason: reason}), TypeAck)
	if err == nil {
		_, err = ParseAck(p)
	}
	if err != nil && t.notifyFailed() < maxNotifyTries {
		return fmt.Errorf("tell the sender the transfer ended: %w", err)
	}
	m.setNotified(t) // delivered, or given up: a re-offer from the sender learns the outcome
	return nil
}

// maxNotifyTries bounds the attempts to deliver DONE (about 10 minutes with backoff).
const maxNotifyTries = 25

func (t *transfer) notifyFailed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.notifyTries++
	return t.notifyTries
}

func (m *Manager) setNotified(t *transfer) {
	t.mu.Lock()
	was := t.notified
	t.notified = true
	t.mu.Unlock()
	if !was {
		m.persist(t)
	}
}

// humanBytes formats n for messages: "1.5 GiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit && exp < 5; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
