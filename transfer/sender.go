package transfer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/wire"
)

// idleReoffer: a sender that has heard nothing from the receiver for this long offers
// again, which also tells it about a DONE it may have missed.
const idleReoffer = 30 * time.Second

// Send offers files and whole folders to peer to and returns once the offer is answered:
// the Info then says waiting (the receiver must accept), transferring, or completed (the
// same files went to the same peer before). A rejection returns an error wrapping
// ErrRejected. If the peer cannot be reached, the transfer is kept (paused), offered
// again until it can be, and the error wraps ErrUnreachable. The same Send again resumes
// the same transfer while it is unfinished (its ID depends only on the two peers and the
// content), and sends the files again once it completed (a nonce makes a new ID).
//
// While Send hashes, events report a provisional entry "hashing-…" (see Info.Replaces).
func (m *Manager) Send(ctx context.Context, to peer.ID, paths []string) (Info, error) {
	if to == m.cfg.Host.ID() {
		return Info{}, errors.New("cannot send files to ourselves")
	}
	if m.ctx.Err() != nil {
		return Info{}, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer onDone(m.ctx, cancel)() // Close stops a Send that is hashing or offering
	man, sources, prov, err := m.prepare(ctx, to, paths)
	if err != nil {
		return Info{}, err
	}
	t, created, err := m.outgoing(to, man, sources, prov)
	if err != nil {
		return Info{}, err
	}
	if s := t.getState(); s == StateCompleted || s == StateQuarantined {
		info := t.info()
		return info, outcomeError(info)
	}
	info, err := m.offerFresh(ctx, t)
	if s := info.State; created && len(man.Nonce) == 0 && (s == StateCompleted || s == StateQuarantined) {
		// The receiver finished these files in a transfer we no longer remember (our
		// state was lost): send them again, as after one we remember.
		again := *man
		again.Nonce = newNonce()
		if t, err = m.create(to, &again, t.content, sources, prov); err != nil {
			return info, err
		}
		return m.offerFresh(ctx, t)
	}
	return info, err
}

func (m *Manager) offerFresh(ctx context.Context, t *transfer) (Info, error) {
	if !m.cfg.AllowRelay && m.relayOnly(t.peer) {
		err := m.relayError(t.peer)
		m.transition(t, StateFailed, errorText(err), false)
		return t.info(), err
	}
	err := m.offer(ctx, t, true)
	m.startRunner(t)
	info := t.info()
	if err != nil {
		return info, err
	}
	return info, outcomeError(info)
}

// prepare collects and hashes the files, reporting progress under a provisional ID.
func (m *Manager) prepare(ctx context.Context, to peer.ID, paths []string) (*Manifest, []source, string, error) {
	items, err := collect(paths, func(msg string, args ...any) { m.log.Info(msg, args...) })
	if err != nil {
		return nil, nil, "", err
	}
	if err := checkTree(entriesOf(items)); err != nil {
		return nil, nil, "", fmt.Errorf("cannot send these together: %w; rename one of them and send again", err)
	}
	cs, err := chunkSizeFor(m.cfg.ChunkSize, entriesOf(items))
	if err != nil {
		return nil, nil, "", err
	}
	hj := m.startHashing(to, items)
	h := &hasher{chunkSize: cs, cacheDir: m.store.cacheDir(), progress: hj.progress}
	err = h.hash(ctx, items)
	m.endHashing(hj, err)
	if err != nil {
		return nil, nil, "", err
	}
	man := &Manifest{ChunkSize: cs, Entries: entriesOf(items)}
	sources := make([]source, len(items))
	for i := range items {
		sources[i] = items[i].source
	}
	return man, sources, hj.id, nil
}

// maxOfferChunks keeps an OFFER's chunk hashes (32 bytes each) to 8 MiB, half its cap,
// leaving room for names.
const maxOfferChunks = 256 << 10

// chunkSizeFor is the chunk size for an offer of entries: the configured one, doubled
// while the chunk hashes would not fit in an OFFER (from 256 GiB at 1 MiB chunks).
func chunkSizeFor(cs int64, entries []Entry) (int64, error) {
	for ; cs <= MaxChunkSize; cs *= 2 {
		var n int64
		for i := range entries {
			n += entries[i].NumChunks(cs)
		}
		if n <= maxOfferChunks {
			return cs, nil
		}
	}
	return 0, fmt.Errorf("too much for one transfer (%d chunks even at %s): send it in parts", maxOfferChunks, humanBytes(MaxChunkSize))
}

func entriesOf(items []local) []Entry {
	out := make([]Entry, len(items))
	for i := range items {
		out[i] = items[i].Entry
	}
	return out
}

// outgoing finds or creates the transfer for man, persisting a new one before it is
// offered. An unfinished transfer of the same files to the same peer resumes; one that
// failed, was rejected or canceled starts over; once every such transfer completed (or
// was quarantined), this is a new transfer, its ID made new by a nonce. created says
// the transfer is new.
func (m *Manager) outgoing(to peer.ID, man *Manifest, sources []source, prov string) (t *transfer, created bool, err error) {
	content := TransferID(m.cfg.Host.ID(), to, man)
	t, sent := m.resumable(to, content)
	if t == nil {
		if sent {
			man.Nonce = newNonce()
		}
		t, err = m.create(to, man, content, sources, prov)
		return t, true, err
	}
	t.mu.Lock()
	t.sources, t.replaces = sources, prov
	if s := t.state; s == StateFailed || s == StateRejected || s == StateCanceled {
		t.resetProgress()
		t.setLocked(StateWaiting, "", true)
	}
	t.mu.Unlock()
	m.persist(t)
	m.emit(t)
	return t, false, nil
}

// create makes and persists a new outgoing transfer of man (of content, see contentID).
func (m *Manager) create(to peer.ID, man *Manifest, content string, sources []source, prov string) (*transfer, error) {
	t := newTransfer(TransferID(m.cfg.Host.ID(), to, man), DirOut, to, man)
	t.content, t.state, t.sources, t.replaces = content, StateWaiting, sources, prov
	m.mu.Lock()
	m.transfers[t.id] = t
	m.mu.Unlock()
	return t, m.saveNew(t, man)
}

// resumable is the outgoing transfer of content to peer to that a new Send goes on
// with: one still running, else one that failed, was rejected or canceled; nil if there
// is none, and then sent says whether one of them completed or was quarantined.
func (m *Manager) resumable(to peer.ID, content string) (t *transfer, sent bool) {
	m.mu.Lock()
	var same []*transfer
	for _, t := range m.transfers {
		if t.dir == DirOut && t.peer == to && t.content == content {
			same = append(same, t)
		}
	}
	m.mu.Unlock()
	var ended *transfer
	for _, t := range same {
		switch s := t.getState(); {
		case !s.Terminal():
			return t, true
		case s != StateCompleted && s != StateQuarantined:
			ended = t
		}
	}
	return ended, len(same) > 0
}

func newNonce() []byte {
	b := make([]byte, NonceLen)
	rand.Read(b)
	return b
}

// saveNew persists a new transfer: its manifest man, then its record. If that fails the
// transfer is forgotten, since it could not be resumed.
func (m *Manager) saveNew(t *transfer, man *Manifest) error {
	err := m.store.saveManifest(t.id, man)
	if err == nil {
		err = m.store.saveRecord(t.record())
	}
	if err != nil {
		m.mu.Lock()
		delete(m.transfers, t.id)
		m.mu.Unlock()
		return fmt.Errorf("save transfer state in %s: %w", m.store.dir, err)
	}
	m.emit(t)
	return nil
}

// offer sends t's OFFER and applies the ANSWER. fresh says the user asked (Send).
func (m *Manager) offer(ctx context.Context, t *transfer, fresh bool) error {
	ctx, cancel := context.WithTimeout(ctx, offerTimeout)
	defer cancel()
	frame := AppendOffer(nil, Offer{ID: t.id, Fresh: fresh, Manifest: *t.man})
	p, err := m.request(ctx, t.peer, frame, TypeAnswer)
	var a Answer
	if err == nil {
		a, err = ParseAnswer(p)
	}
	if err == nil && a.ID != t.id {
		err = fmt.Errorf("%w: answer for transfer %s", ErrMalformed, a.ID)
	}
	if err != nil {
		m.offerFailed(t, err)
		return err
	}
	m.applyAnswer(t, a)
	return nil
}

func (m *Manager) offerFailed(t *transfer, err error) {
	t.mu.Lock()
	t.reoffer = true
	t.mu.Unlock()
	m.transition(t, StatePaused, "cannot reach the receiver, retrying: "+errorText(err), false)
}

var answerStates = map[Status]State{
	StatusAccepted:    StateTransferring,
	StatusPending:     StateWaiting,
	StatusRejected:    StateRejected,
	StatusCompleted:   StateCompleted,
	StatusQuarantined: StateQuarantined,
	StatusFailed:      StateFailed,
	StatusCanceled:    StateCanceled,
}

func (m *Manager) applyAnswer(t *transfer, a Answer) {
	t.mu.Lock()
	t.reoffer, t.activity = false, time.Now()
	s := answerStates[a.Status]
	if s == StateCompleted {
		t.markAllDone()
	}
	changed := t.setLocked(s, a.Reason, false)
	t.mu.Unlock()
	if changed {
		m.persist(t)
		m.emit(t)
	}
}

// runOut keeps an outgoing transfer alive: it offers again after a restart, after the
// receiver went away, and after a long silence, with backoff while the peer is gone.
func (m *Manager) runOut(ctx context.Context, t *transfer, done chan struct{}) {
	backoff := retryMin
	for !t.idle(done) {
		if t.offerDue() {
			if err := m.offer(ctx, t, false); err != nil {
				backoff = nextBackoff(backoff)
			} else {
				backoff = retryMin
			}
		}
		if !sleep(ctx, t, backoff) {
			return
		}
	}
}

func (t *transfer) offerDue() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.state {
	case StatePaused:
		return true
	case StateWaiting, StateTransferring:
		return t.reoffer || time.Since(t.activity) > idleReoffer
	}
	return false
}

// serveGets answers GET frames on one data stream until the receiver closes it.
func (m *Manager) serveGets(st network.Stream, fr *wire.Reader, p []byte) error {
	var buf []byte
	for {
		g, err := ParseGet(p)
		if err != nil {
			return err
		}
		if err := m.serveGet(st, g, &buf); errors.Is(err, errRefused) {
			return nil // the ERROR frame went out; close the stream normally
		} else if err != nil {
			return err
		}
		st.SetReadDeadline(time.Now().Add(idleTimeout))
		var typ FrameType
		typ, p, err = ReadFrameFrom(fr, 0)
		if isEOF(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if typ != TypeGet {
			return fmt.Errorf("%w: frame type 0x%02x on a data stream", ErrMalformed, byte(typ))
		}
	}
}

// chunkRoom is the space kept in front of a chunk's data for its header frame, so the
// two go out in one Write without copying the data.
const chunkRoom = 40

// errRefused ends a data stream after an ERROR frame went out.
var errRefused = errors.New("GET refused")

func (m *Manager) serveGet(st network.Stream, g Get, buf *[]byte) error {
	t, refusal := m.servable(st, g)
	if refusal == nil {
		var src Source
		if src, refusal = m.openSource(t, int(g.File)); refusal == nil {
			defer src.Close()
			return m.serveOpen(st, t, g, src, buf)
		}
	}
	writeFrame(st, AppendError(nil, *refusal))
	return errRefused
}

func (m *Manager) serveOpen(st network.Stream, t *transfer, g Get, src Source, buf *[]byte) error {
	m.noteGet(t)
	if need := chunkRoom + int(t.man.ChunkSize); len(*buf) < need {
		*buf = make([]byte, need)
	}
	err := m.serveChunks(st, t, g, src, *buf)
	if err != nil && !errors.Is(err, errRefused) {
		m.peerLost(t, err)
	}
	return err
}

func (m *Manager) serveChunks(st network.Stream, t *transfer, g Get, src Source, buf []byte) error {
	e := &t.man.Entries[g.File]
	cs := t.man.ChunkSize
	for c := int64(g.First); c < int64(g.First+g.Count); c++ {
		if t.getState() == StateCanceled {
			writeFrame(st, AppendError(nil, ErrorFrame{Code: CodeCanceled, Reason: "the sender canceled the transfer"}))
			return errRefused
		}
		n := e.ChunkLen(c, cs)
		if err := readFullAt(src, buf[chunkRoom:chunkRoom+n], c*cs); err != nil {
			reason := fmt.Sprintf("the sender cannot read %s: %v", e.Path, err)
			writeFrame(st, AppendError(nil, ErrorFrame{Code: CodeUnavailable, Reason: reason}))
			return errRefused
		}
		hdr := AppendChunkHeader(buf[:0:0], ChunkHeader{File: g.File, Index: uint64(c), Length: uint64(n)})
		start := chunkRoom - len(hdr)
		copy(buf[start:], hdr)
		if err := writeFrame(st, buf[start:chunkRoom+n]); err != nil {
			return err
		}
		m.served(t, int(g.File), c, n)
	}
	return nil
}

// endedReason tells a receiver why a transfer it still pulls has ended on our side.
func endedReason(s State, why string) string {
	reason := "the transfer has ended on the sender's side (" + string(s) + ")"
	if why != "" {
		reason += ": " + why
	}
	return truncateReason(reason)
}

// servable checks a GET: our transfer, offered to this very peer, still running, over
// an allowed connection, and a range inside the manifest.
func (m *Manager) servable(st network.Stream, g Get) (*transfer, *ErrorFrame) {
	t := m.get(g.ID)
	if t == nil || t.dir != DirOut || t.peer != st.Conn().RemotePeer() {
		return nil, &ErrorFrame{Code: CodeUnknown, Reason: "no such transfer was offered to you"}
	}
	if s, why := t.stateAndReason(); s == StateCanceled {
		return nil, &ErrorFrame{Code: CodeCanceled, Reason: "the sender canceled the transfer"}
	} else if s.Terminal() {
		return nil, &ErrorFrame{Code: CodeUnknown, Reason: endedReason(s, why)}
	}
	if st.Conn().Stat().Limited && !m.cfg.AllowRelay {
		return nil, &ErrorFrame{Code: CodeRelayed, Reason: "the sender moves files over direct connections only, and this one is relayed"}
	}
	if !inRange(t.man, g) {
		return nil, &ErrorFrame{Code: CodeBadRequest, Reason: "chunk range outside the manifest"}
	}
	return t, nil
}

func inRange(man *Manifest, g Get) bool {
	if g.File >= uint64(len(man.Entries)) || man.Entries[g.File].Kind != KindFile {
		return false
	}
	n := uint64(man.Entries[g.File].NumChunks(man.ChunkSize))
	return g.First < n && g.Count <= n-g.First
}

// openSource opens the file behind entry f, refusing one that changed since the offer.
func (m *Manager) openSource(t *transfer, f int) (Source, *ErrorFrame) {
	t.mu.Lock()
	s := t.sources[f]
	t.mu.Unlock()
	path := t.man.Entries[f].Path
	if err := unchanged(s, t.man.Entries[f].Size); err != nil {
		m.transition(t, StateFailed, err.Error(), false)
		return nil, &ErrorFrame{Code: CodeChanged, Reason: fmt.Sprintf("the sender's file %s changed or vanished since it was offered", path)}
	}
	src, err := m.cfg.OpenSource(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &ErrorFrame{Code: CodeChanged, Reason: fmt.Sprintf("the sender's file %s is gone", path)}
	}
	if err != nil {
		return nil, &ErrorFrame{Code: CodeUnavailable, Reason: fmt.Sprintf("the sender cannot open %s: %v", path, err)}
	}
	return src, nil
}

func (m *Manager) noteGet(t *transfer) {
	t.mu.Lock()
	t.activity, t.reoffer = time.Now(), false
	changed := false
	if t.state == StateWaiting || t.state == StatePaused {
		changed = t.setLocked(StateTransferring, "", false)
	}
	t.mu.Unlock()
	if changed {
		m.persist(t)
		m.emit(t)
	}
}

func (m *Manager) served(t *transfer, f int, c, n int64) {
	t.mu.Lock()
	t.sent += n
	t.activity = time.Now()
	t.mu.Unlock()
	if t.markChunk(f, c, n) {
		m.emit(t)
	}
}

// peerLost pauses an outgoing transfer whose data stream broke, so the runner offers
// again (with backoff) until the receiver is back.
func (m *Manager) peerLost(t *transfer, err error) {
	t.mu.Lock()
	t.reoffer = true
	t.mu.Unlock()
	m.transition(t, StatePaused, "lost the receiver: "+errorText(err), false)
}

// handleDone: the receiver's final word on a transfer we sent.
func (m *Manager) handleDone(st network.Stream, p []byte) error {
	d, err := ParseDone(p)
	if err != nil {
		return err
	}
	if t := m.get(d.ID); t != nil && t.dir == DirOut && t.peer == st.Conn().RemotePeer() {
		m.applyAnswer(t, Answer{ID: d.ID, Status: d.Status, Reason: d.Reason})
	}
	return writeFrame(st, AppendAck(nil, Ack{ID: d.ID}))
}

// hashingJob is the provisional entry of a Send that is still hashing.
type hashingJob struct {
	m    *Manager
	id   string
	mu   sync.Mutex
	info Info
	last time.Time
}

func (m *Manager) startHashing(to peer.ID, items []local) *hashingJob {
	var rnd [8]byte
	rand.Read(rnd[:])
	now := time.Now()
	hj := &hashingJob{m: m, id: "hashing-" + hex.EncodeToString(rnd[:])}
	hj.info = Info{ID: hj.id, Direction: DirOut, Peer: to, State: StateHashing, StartedAt: now, UpdatedAt: now}
	hj.info.FileCount = len(items)
	paths := make([]string, len(items))
	for i := range items {
		e := &items[i].Entry
		paths[i] = e.Path
		if e.Kind == KindDir {
			hj.info.FolderCount++
		}
		if i < MaxListedFiles {
			hj.info.Files = append(hj.info.Files, FileInfo{Path: e.Path, Dir: e.Kind == KindDir, Size: e.Size})
		}
		hj.info.TotalBytes += e.Size
	}
	hj.info.Name = displayName(paths)
	m.mu.Lock()
	m.hashing[hj.id] = hj
	m.mu.Unlock()
	m.emitInfo(hj.snapshot())
	return hj
}

func (hj *hashingJob) snapshot() Info {
	hj.mu.Lock()
	defer hj.mu.Unlock()
	info := hj.info
	info.Files = append([]FileInfo(nil), info.Files...)
	return info
}

func (hj *hashingJob) progress(n int64) {
	hj.mu.Lock()
	hj.info.DoneBytes += n
	hj.info.UpdatedAt = time.Now()
	due := hj.info.UpdatedAt.Sub(hj.last) >= progressEvery
	if due {
		hj.last = hj.info.UpdatedAt
	}
	hj.mu.Unlock()
	if due {
		hj.m.emitInfo(hj.snapshot())
	}
}

// endHashing drops the provisional entry; on failure its last event says why.
func (m *Manager) endHashing(hj *hashingJob, err error) {
	m.mu.Lock()
	delete(m.hashing, hj.id)
	m.mu.Unlock()
	if err == nil {
		return
	}
	hj.mu.Lock()
	hj.info.State, hj.info.Error = StateFailed, errorText(err)
	if errors.Is(err, context.Canceled) {
		hj.info.State = StateCanceled
	}
	hj.mu.Unlock()
	m.emitInfo(hj.snapshot())
}
