package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/wire"
)

// ChunkSize is the default chunk size: the unit of verification, of re-fetching a bad
// chunk and of what a resume may lose. Measured (BenchmarkLoopback, table in
// bench_test.go): 4 MiB chunks were not consistently faster than 1 MiB but took 2-3x the
// heap (47-63 MiB against 23 at 2-4 streams); 256 KiB chunks were no faster on disk,
// slower on tmpfs with one stream (377 against 500 MB/s), and make offers 4x larger.
const ChunkSize = 1 << 20

// DefaultStreams is the default number of parallel data streams per incoming transfer.
// Measured (BenchmarkLoopback, 1 MiB chunks): 2 streams beat 1 on tmpfs (516 against 500
// MB/s, and 44.6 % against 38.9 % of a bare stream on disk); 4 were within the noise of 2
// on disk (47 %) at more heap (24-43 MiB against 17-25) and more variance. Two streams
// let the receiver hash and write on two cores while a third decrypts.
const DefaultStreams = 2

// Policy decides what happens to an offer.
type Policy int

// Policies.
const (
	AcceptContacts Policy = iota // contacts' offers are accepted at once, others wait for Accept
	AcceptAny                    // every offer is accepted at once
	AcceptAsk                    // every offer waits for Accept
)

// ParsePolicy parses "contacts", "any" or "ask".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "contacts":
		return AcceptContacts, nil
	case "any":
		return AcceptAny, nil
	case "ask":
		return AcceptAsk, nil
	}
	return 0, fmt.Errorf("unknown file policy %q: use contacts, any or ask", s)
}

func (p Policy) String() string {
	switch p {
	case AcceptAny:
		return "any"
	case AcceptAsk:
		return "ask"
	}
	return "contacts"
}

// Source is what the sender reads a file through.
type Source interface {
	io.ReaderAt
	io.Closer
}

// Config configures a Manager. Host, StateDir and Downloads are required.
type Config struct {
	Host       host.Host
	StateDir   string // persisted state of every transfer, and the hash cache
	Downloads  string // received files land here (created 0700 if missing), via an os.Root
	Policy     Policy
	IsContact  func(peer.ID) bool // nil: nobody is a contact
	MaxSize    int64              // per incoming transfer, bytes; 0 = no limit
	ScanCmd    []string           // argv; the completed file's path is appended; non-zero exit = quarantined
	AllowRelay bool               // false: data only over direct (non-limited) connections
	Streams    int                // parallel data streams per incoming transfer; 0 = DefaultStreams
	ChunkSize  int64              // chunk size of our offers; 0 = ChunkSize
	OnEvent    func(Info)         // every state change, and progress at most 5/s per transfer; must not block
	Logger     *slog.Logger
	OpenSource func(path string) (Source, error) // nil = os.Open (a test hook)
	// OfferLimit, if set, rate-limits incoming OFFERs per peer: one over the limit is
	// answered rejected, and a peer the limiter calls abusive is disconnected.
	OfferLimit *ratelimit.Limiter[peer.ID]
	// FrameBudget, if set, gives the budget where a peer's large frames (OFFERs over
	// wire.SmallFrame) must find a place while they are read; no place refuses the
	// stream.
	FrameBudget func(peer.ID) *wire.Budget

	// Offers from strangers (peers IsContact calls no contact) that wait for Accept
	// share one budget, whatever their peer IDs; an offer past it is answered "too many
	// offers waiting". Contacts' offers never count against it. 0 = the default.
	MaxStrangerOffers     int           // DefaultMaxStrangerOffers
	MaxStrangerOfferBytes int64         // DefaultMaxStrangerOfferBytes (their file lists together)
	StrangerOfferFrame    int           // DefaultStrangerOfferFrame (one stranger's OFFER; contacts: MaxOfferFrame)
	PendingExpiry         time.Duration // DefaultPendingExpiry: an offer not accepted by then is deleted
}

// Errors callers branch on.
var (
	ErrNotFound    = errors.New("no such transfer")
	ErrRejected    = errors.New("the receiver rejected the transfer")
	ErrUnreachable = errors.New("peer unreachable")
	ErrRelayOnly   = errors.New("the peer is reachable only through a relay, and files move over direct connections only")
	ErrFinished    = errors.New("the transfer has already ended")
	ErrNotPending  = errors.New("the transfer is not waiting to be accepted")
	ErrFailed      = errors.New("the transfer failed")
	ErrCanceled    = errors.New("the transfer was canceled")
	ErrQuarantined = errors.New("the scanner quarantined a file")
	ErrClosed      = errors.New("the transfer manager is closed")
)

// Manager runs file transfers on a libp2p host: it answers the protocol, sends, pulls,
// persists and resumes. Every goroutine it starts ends in Close.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	root  *os.Root // Downloads
	store store

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	transfers map[string]*transfer
	hashing   map[string]*hashingJob // provisional entries of Sends still hashing
	ended     map[string]tombstone   // offers that expired, or strangers' canceled while they waited

	admitMu sync.Mutex // serializes the strangers' budget check with the admission it allows
	tombMu  sync.Mutex // orders writes of the tombstones

	emitMu sync.Mutex // serializes OnEvent, so events of one transfer arrive in order
}

// New starts a Manager: it loads persisted transfers, resumes unfinished ones and
// registers the stream handler for ProtocolID.
func New(cfg Config) (*Manager, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	root, err := openDownloads(cfg.Downloads)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg: cfg, log: cfg.Logger, root: root, store: store{dir: cfg.StateDir},
		transfers: map[string]*transfer{}, hashing: map[string]*hashingJob{},
	}
	if err := m.store.init(); err != nil {
		root.Close()
		return nil, err
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.ended = m.store.loadExpired()
	m.loadAll()
	m.goRun(m.expireLoop)
	cfg.Host.SetStreamHandler(ProtocolID, m.handle)
	return m, nil
}

func (c *Config) fill() error {
	switch {
	case c.Host == nil:
		return errors.New("transfer: Config.Host is required")
	case c.StateDir == "" || c.Downloads == "":
		return errors.New("transfer: Config.StateDir and Config.Downloads are required")
	case c.ChunkSize != 0 && (c.ChunkSize < MinChunkSize || c.ChunkSize > MaxChunkSize):
		return fmt.Errorf("transfer: chunk size %d outside %d..%d", c.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	abs, err := filepath.Abs(c.Downloads)
	if err != nil {
		return fmt.Errorf("transfer: downloads folder: %w", err)
	}
	c.Downloads = abs
	if c.Streams <= 0 {
		c.Streams = DefaultStreams
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = ChunkSize
	}
	if c.OpenSource == nil {
		c.OpenSource = func(p string) (Source, error) { return os.Open(p) }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.IsContact == nil {
		c.IsContact = func(peer.ID) bool { return false }
	}
	c.fillBudget()
	return nil
}

func (c *Config) fillBudget() {
	if c.MaxStrangerOffers <= 0 {
		c.MaxStrangerOffers = DefaultMaxStrangerOffers
	}
	if c.MaxStrangerOfferBytes <= 0 {
		c.MaxStrangerOfferBytes = DefaultMaxStrangerOfferBytes
	}
	if c.StrangerOfferFrame <= 0 || c.StrangerOfferFrame > MaxOfferFrame {
		c.StrangerOfferFrame = DefaultStrangerOfferFrame
	}
	if c.PendingExpiry <= 0 {
		c.PendingExpiry = DefaultPendingExpiry
	}
}

func openDownloads(dir string) (*os.Root, error) {
	if err := os.MkdirAll(dir, 0700); err != nil {
		return nil, fmt.Errorf("downloads folder: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("downloads folder: %w", err)
	}
	return root, nil
}

// loadAll brings back every persisted transfer and starts those with work left.
func (m *Manager) loadAll() {
	bad := func(name string, err error) {
		m.log.Warn("skipping unreadable transfer state", "file", name, "err", err)
	}
	dropped := 0
	defer func() {
		if dropped > 0 {
			m.saveTombstones()
		}
	}()
	for _, l := range m.store.loadAll(bad) {
		if s, ok := m.leftover(&l); ok {
			m.store.remove(l.rec.ID)
			m.tombstoneLocked(l.rec.ID, s) // nothing else runs yet
			dropped++
			m.log.Info("deleted a file offer that ended while it waited", "id", l.rec.ID, "peer", l.peer, "state", s)
			continue
		}
		t := newTransfer(l.rec.ID, l.rec.Direction, l.peer, l.man)
		t.sum = *l.rec.Summary
		if t.sum.Dirs == 0 && l.man != nil { // a record older than folder counts
			t.sum.Dirs = summarize(l.man, 0).Dirs
		}
		t.state, t.errMsg = l.rec.State, l.rec.Error
		t.started, t.updated = l.rec.StartedAt, l.rec.UpdatedAt
		t.sources, t.notified, t.names = l.rec.Sources, l.rec.Notified, l.rec.Names
		t.reoffer = true
		if t.dir == DirOut {
			t.content = t.id
			if len(l.man.Nonce) > 0 {
				t.content = contentID(m.cfg.Host.ID(), l.peer, l.man)
			}
		}
		if t.state == StateCompleted {
			t.markAllDone()
		}
		m.transfers[t.id] = t
		if l.old {
			m.persist(t)
		}
		m.startRunner(t)
	}
}

// leftover reports a loaded offer that must not come back, and the tombstone's state: one
// that expired while the node was down, or a stranger's that ended while it waited (an
// older version kept its record).
func (m *Manager) leftover(l *loaded) (State, bool) {
	switch {
	case l.waiting() && time.Since(l.rec.UpdatedAt) > m.cfg.PendingExpiry:
		return StateRejected, true
	case l.rec.Direction == DirIn && l.rec.State.Terminal() && l.man == nil && !m.cfg.IsContact(l.peer):
		return StateCanceled, true
	}
	return "", false
}

// Close stops every goroutine the Manager started and waits for them. Idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.cfg.Host.RemoveStreamHandler(ProtocolID)
	m.cancel()
	m.wg.Wait()
	return m.root.Close()
}

// goRun runs f on a goroutine that Close waits for; false if the Manager is closed.
func (m *Manager) goRun(f func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}

// enter registers a stream handler's goroutine with Close; false if closed.
func (m *Manager) enter() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	return true
}

func (m *Manager) get(id string) *transfer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.transfers[id]
}

// List returns every transfer, newest first, including Sends still hashing.
func (m *Manager) List() []Info {
	m.mu.Lock()
	ts := make([]*transfer, 0, len(m.transfers))
	for _, t := range m.transfers {
		ts = append(ts, t)
	}
	jobs := make([]*hashingJob, 0, len(m.hashing))
	for _, hj := range m.hashing {
		jobs = append(jobs, hj)
	}
	m.mu.Unlock()
	out := make([]Info, 0, len(ts)+len(jobs))
	for _, hj := range jobs {
		out = append(out, hj.snapshot())
	}
	for _, t := range ts {
		out = append(out, t.info())
	}
	slices.SortFunc(out, func(a, b Info) int { return b.StartedAt.Compare(a.StartedAt) })
	return out
}

// Sending reports the local files that outgoing transfers not yet finished read from
// (absolute paths): the files that must not be removed. It does not see Sends that are
// still hashing.
func (m *Manager) Sending() map[string]bool {
	m.mu.Lock()
	ts := make([]*transfer, 0, len(m.transfers))
	for _, t := range m.transfers {
		if t.dir == DirOut {
			ts = append(ts, t)
		}
	}
	m.mu.Unlock()
	paths := map[string]bool{}
	for _, t := range ts {
		t.mu.Lock()
		finished := t.state.Terminal()
		t.mu.Unlock()
		if finished {
			continue
		}
		for _, src := range t.sources {
			if src.Path != "" {
				paths[src.Path] = true
			}
		}
	}
	return paths
}

// Get returns one transfer with every one of its files (List and OnEvent show the
// first MaxListedFiles). A pending offer's files are read from StateDir for it.
func (m *Manager) Get(id string) (Info, bool) {
	t := m.get(id)
	if t == nil {
		return Info{}, false
	}
	info := t.info()
	t.mu.Lock()
	if t.man != nil {
		info.Files = t.files(len(t.man.Entries))
	}
	loaded := t.man != nil
	t.mu.Unlock()
	if !loaded {
		if man, err := m.store.loadManifest(id); err == nil {
			info.Files = entryFiles(&man)
		}
	}
	return info, true
}

// Wait blocks until transfer id reaches a terminal state. It returns the final Info,
// with an error wrapping ErrFailed, ErrRejected, ErrCanceled or ErrQuarantined unless
// the transfer completed.
func (m *Manager) Wait(ctx context.Context, id string) (Info, error) {
	t := m.get(id)
	if t == nil {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	for {
		t.mu.Lock()
		s, ch := t.state, t.changed
		t.mu.Unlock()
		if s.Terminal() {
			info := t.info()
			return info, outcomeError(info)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return t.info(), ctx.Err()
		case <-m.ctx.Done():
			return t.info(), ErrClosed
		}
	}
}

// outcomeError describes a terminal state other than completed as an error.
func outcomeError(info Info) error {
	var base error
	switch info.State {
	case StateCompleted:
		return nil
	case StateRejected:
		base = ErrRejected
	case StateCanceled:
		base = ErrCanceled
	case StateQuarantined:
		base = ErrQuarantined
	case StateFailed:
		base = ErrFailed
	default:
		return nil
	}
	if info.Error == "" {
		return base
	}
	return fmt.Errorf("%w: %s", base, info.Error)
}

// Accept lets a pending incoming transfer start, once free space allows it.
func (m *Manager) Accept(id string) error {
	t := m.get(id)
	if t == nil || t.dir != DirIn {
		return fmt.Errorf("%w: no incoming transfer %s", ErrNotFound, id)
	}
	if s := t.getState(); s != StatePending {
		return fmt.Errorf("%w (it is %s)", ErrNotPending, s)
	}
	if err := m.checkSpace(t.totalSize()); err != nil {
		return err
	}
	if err := m.loadManifest(t); err != nil {
		return err
	}
	if !m.transition(t, StateTransferring, "", false) {
		return fmt.Errorf("%w (it is %s)", ErrNotPending, t.getState())
	}
	m.startRunner(t)
	return nil
}

// Cancel ends a transfer on this side, tells the peer if it is reachable, and removes
// the partial data of an incoming transfer.
func (m *Manager) Cancel(id string) error {
	t := m.get(id)
	if t == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if !m.cancelLocal(t, "canceled here") {
		return fmt.Errorf("%w (it is %s)", ErrFinished, t.getState())
	}
	m.goRun(func() { m.sendCancel(t) })
	return nil
}

// cancelLocal moves t to canceled, stops its runner and removes an incoming transfer's
// partial data. It reports false if t had already ended.
func (m *Manager) cancelLocal(t *transfer, reason string) bool {
	t.mu.Lock()
	waited := t.dir == DirIn && t.state == StatePending // decided with the state change
	ok := t.setLocked(StateCanceled, reason, false)
	t.notified = true
	t.mu.Unlock()
	if !ok {
		return false
	}
	m.stopRunner(t)
	if waited && !m.cfg.IsContact(t.peer) && m.forget(t, StateCanceled) {
		m.emit(t)
		return true
	}
	m.persist(t)
	m.emit(t)
	if t.dir == DirIn {
		m.removeStaging(t)
	}
	if waited {
		m.dropWaitingManifest(t)
	}
	return true
}

// dropWaitingManifest deletes the manifest of a contact's offer that ended while it
// waited (even if Accept was loading it): its record, with the summary, is enough to
// answer its sender, and a fresh offer brings the manifest back.
func (m *Manager) dropWaitingManifest(t *transfer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state.Terminal() { // not restarted meanwhile by a fresh offer
		t.man = nil
		t.resetProgress()
		os.Remove(m.store.manifestPath(t.id))
	}
}

// forget deletes an offer that ended (in state s) while it waited, unless a fresh offer
// restarted it meanwhile: its record and manifest go, and only a tombstone is kept to
// answer its sender. It reports whether it did.
func (m *Manager) forget(t *transfer, s State) bool {
	t.mu.Lock()
	ok := t.state == s && !t.gone
	t.gone = ok
	t.mu.Unlock()
	if !ok {
		return false
	}
	m.mu.Lock()
	if m.transfers[t.id] == t {
		delete(m.transfers, t.id)
	}
	m.tombstoneLocked(t.id, s)
	m.mu.Unlock()
	t.saveMu.Lock() // after a persist already under way
	m.store.remove(t.id)
	t.saveMu.Unlock()
	m.saveTombstones()
	return true
}

// transition moves t to state s (force: even out of a terminal state), persists and
// emits. It reports whether the state changed.
func (m *Manager) transition(t *transfer, s State, msg string, force bool) bool {
	t.mu.Lock()
	ok := t.setLocked(s, msg, force)
	t.mu.Unlock()
	if ok {
		m.log.Info("transfer "+string(s), "id", t.id, "direction", t.dir, "peer", t.peer, "reason", msg)
		m.persist(t)
		m.emit(t)
	}
	return ok
}

// persist writes t's record. A failure is logged: the transfer goes on in memory.
func (m *Manager) persist(t *transfer) {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	if t.isGone() {
		return // forgotten: its files are deleted
	}
	if err := m.store.saveRecord(t.record()); err != nil {
		m.log.Error("cannot save transfer state", "id", t.id, "err", err)
	}
}

// emit hands a snapshot of t to OnEvent. Snapshots are taken inside the lock that
// serializes calls, so a consumer never sees an older state after a newer one.
func (m *Manager) emit(t *transfer) {
	if m.cfg.OnEvent == nil {
		return
	}
	m.emitMu.Lock()
	defer m.emitMu.Unlock()
	m.cfg.OnEvent(t.info())
}

func (m *Manager) emitInfo(info Info) {
	if m.cfg.OnEvent == nil {
		return
	}
	m.emitMu.Lock()
	defer m.emitMu.Unlock()
	m.cfg.OnEvent(info)
}

// startRunner makes sure t's runner goroutine runs, or wakes it.
func (m *Manager) startRunner(t *transfer) {
	t.mu.Lock()
	if t.runDone != nil {
		t.mu.Unlock()
		t.poke()
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	done := make(chan struct{})
	t.runCancel, t.runDone = cancel, done
	t.mu.Unlock()
	started := m.goRun(func() {
		defer close(done)
		defer cancel()
		m.run(ctx, t, done)
	})
	if !started {
		cancel()
		close(done)
	}
}

// stopRunner cancels t's runner and waits until it has ended.
func (m *Manager) stopRunner(t *transfer) {
	t.mu.Lock()
	cancel, done := t.runCancel, t.runDone
	t.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// idle reports whether t's runner has nothing left to do, and if so detaches it from
// t in the same critical section, so a later startRunner starts a new one.
func (t *transfer) idle(done chan struct{}) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	finished := t.state.Terminal() && (t.dir == DirOut || t.notified)
	if finished && t.runDone == done {
		t.runDone, t.runCancel = nil, nil
	}
	return finished
}

// detach forgets the runner that owns done, as it ends.
func (t *transfer) detach(done chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.runDone == done {
		t.runDone, t.runCancel = nil, nil
	}
}

func (m *Manager) run(ctx context.Context, t *transfer, done chan struct{}) {
	defer t.detach(done)
	if t.dir == DirOut {
		m.runOut(ctx, t, done)
	} else {
		m.runIn(ctx, t, done)
	}
}

// Retry pacing for a peer that is gone or an error that may clear.
const (
	retryMin = 2 * time.Second
	retryMax = 30 * time.Second
)

func nextBackoff(d time.Duration) time.Duration { return min(2*d, retryMax) }

// sleep waits d, or until t is poked; false when ctx ends.
func sleep(ctx context.Context, t *transfer, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.kick:
	case <-timer.C:
	}
	return true
}

// loadManifest reads a pending offer's manifest from StateDir, where it waited, for
// the runner to use.
func (m *Manager) loadManifest(t *transfer) error {
	t.mu.Lock()
	loaded := t.man != nil
	t.mu.Unlock()
	if loaded {
		return nil
	}
	man, err := m.store.loadManifest(t.id)
	if err != nil {
		return fmt.Errorf("the offer's list of files cannot be read from %s (%v): cancel it and ask the sender to send again",
			m.store.dir, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != StatePending { // canceled meanwhile: its manifest is being deleted
		return fmt.Errorf("%w (it is %s)", ErrNotPending, t.state)
	}
	if t.man == nil {
		t.man = &man
		t.resetProgress()
	}
	return nil
}

func (t *transfer) markAllDone() {
	for i := range t.man.Entries {
		t.fileDone[i] = t.man.Entries[i].Size
	}
	t.done = t.man.TotalSize()
}

// errorText is err's message without the sentinels' boilerplate repeated.
func errorText(err error) string {
	return strings.TrimSpace(err.Error())
}
