package transfer

import (
	"context"
	"math/bits"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Direction says which side of a transfer we are.
type Direction string

// Directions.
const (
	DirOut Direction = "out"
	DirIn  Direction = "in"
)

// State is where a transfer stands.
type State string

// States. Terminal ones are completed, quarantined, rejected, failed and canceled.
const (
	StateHashing      State = "hashing"      // out: computing chunk hashes before the offer
	StateWaiting      State = "waiting"      // out: the receiver has not accepted yet
	StatePending      State = "pending"      // in: waiting for our Accept
	StateTransferring State = "transferring" // data moving (or the receiver re-verifying its disk)
	StatePaused       State = "paused"       // peer gone, disk full, error that may clear: retried by itself
	StateScanning     State = "scanning"     // in: every chunk verified, the scanner runs
	StateCompleted    State = "completed"
	StateQuarantined  State = "quarantined"
	StateRejected     State = "rejected"
	StateFailed       State = "failed"
	StateCanceled     State = "canceled"
)

func (s State) valid() bool {
	switch s {
	case StateHashing, StateWaiting, StatePending, StateTransferring, StatePaused, StateScanning:
		return true
	}
	return s.Terminal()
}

// Terminal reports whether s is a final state.
func (s State) Terminal() bool {
	switch s {
	case StateCompleted, StateQuarantined, StateRejected, StateFailed, StateCanceled:
		return true
	}
	return false
}

// FileInfo is the progress of one entry of a transfer.
type FileInfo struct {
	Path string `json:"path"` // slash-separated, relative (as offered)
	Dir  bool   `json:"dir,omitempty"`
	Size int64  `json:"size"`
	Done int64  `json:"done"`
}

// Info is a snapshot of a transfer, handed to OnEvent and returned by the API.
type Info struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"` // its one top-level file or folder, or "a.txt and 2 more"
	Direction    Direction  `json:"direction"`
	Peer         peer.ID    `json:"peer"`
	State        State      `json:"state"`
	Error        string     `json:"error,omitempty"`
	Files        []FileInfo `json:"files"`        // the first MaxListedFiles, or all of them (Get)
	FileCount    int        `json:"file_count"`   // files and folders in the transfer
	FolderCount  int        `json:"folder_count"` // the folders among them
	TotalBytes   int64      `json:"total_bytes"`
	DoneBytes    int64      `json:"done_bytes"`
	ResumedBytes int64      `json:"resumed_bytes,omitempty"` // in: verified on disk when it resumed
	SentBytes    int64      `json:"sent_bytes,omitempty"`    // out: data served in this process
	Rate         float64    `json:"rate"`                    // bytes/s, smoothed
	StartedAt    time.Time  `json:"started_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	// Replaces is the provisional ID ("hashing-…") under which this transfer's hashing
	// was reported, on transfers started by Send in this process; "" otherwise.
	Replaces string `json:"replaces,omitempty"`
}

// progressEvery throttles progress events to at most 5 per second per transfer.
const progressEvery = 200 * time.Millisecond

// transfer is one transfer in memory. The sources never change, nor the manifest once
// set; the rest is guarded by mu. An incoming offer that waits for Accept holds only its
// summary: its manifest stays in StateDir until Accept loads it (man is nil until then,
// and set under mu before the runner may use it).
type transfer struct {
	id       string
	dir      Direction
	peer     peer.ID
	man      *Manifest
	sum      summary
	sources  []source // out
	replaces string
	content  string // out: contentID, shared by every send of the same files to peer

	saveMu sync.Mutex // orders writes of this transfer's record

	mu          sync.Mutex
	state       State
	errMsg      string
	started     time.Time
	updated     time.Time
	changed     chan struct{} // closed and replaced on every state change
	notified    bool
	names       map[string]string
	got         []bitset // per entry: chunks verified (in) or served (out)
	fileDone    []int64
	done        int64
	resumed     int64
	sent        int64
	rate        float64
	lastEmit    time.Time
	rateAt      time.Time
	rateDone    int64
	activity    time.Time // out: last GET served
	reoffer     bool      // out: offer again soon (loaded after a restart, or peer lost)
	verified    bool      // in: what is on disk has been re-verified since progress was reset
	notifyTries int       // in: failed attempts to deliver DONE
	gone        bool      // in: forgotten (ended while it waited); its files are deleted
	kick        chan struct{}
	runCancel   context.CancelFunc
	runDone     chan struct{} // closed when the runner ends; nil when none runs
}

// newTransfer makes a transfer of man (nil: an offer whose manifest waits on disk; the
// caller sets sum).
func newTransfer(id string, dir Direction, p peer.ID, man *Manifest) *transfer {
	now := time.Now()
	t := &transfer{
		id: id, dir: dir, peer: p, man: man,
		started: now, updated: now,
		changed: make(chan struct{}),
		kick:    make(chan struct{}, 1),
	}
	if man != nil {
		t.sum = summarize(man, 0)
	}
	t.resetProgress()
	return t
}

func (t *transfer) resetProgress() {
	t.done, t.rate, t.rateDone = 0, 0, 0
	t.verified = false
	if t.man == nil {
		t.got, t.fileDone = nil, nil
		return
	}
	t.got = make([]bitset, len(t.man.Entries))
	t.fileDone = make([]int64, len(t.man.Entries))
	for i := range t.man.Entries {
		t.got[i] = newBitset(t.man.Entries[i].NumChunks(t.man.ChunkSize))
	}
}

// info snapshots t, with its first MaxListedFiles files.
func (t *transfer) info() Info {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Info{
		ID: t.id, Name: t.sum.name(), Direction: t.dir, Peer: t.peer, State: t.state, Error: t.errMsg,
		Files: t.files(MaxListedFiles), FileCount: t.sum.Files, FolderCount: t.sum.Dirs, TotalBytes: t.sum.Total, DoneBytes: t.done,
		ResumedBytes: t.resumed, SentBytes: t.sent, Rate: t.rate,
		StartedAt: t.started, UpdatedAt: t.updated, Replaces: t.replaces,
	}
}

// files lists the first n entries with their progress; t.mu is held.
func (t *transfer) files(n int) []FileInfo {
	if t.man == nil {
		return append([]FileInfo(nil), t.sum.First[:min(n, len(t.sum.First))]...)
	}
	out := make([]FileInfo, min(n, len(t.man.Entries)))
	for i := range out {
		e := &t.man.Entries[i]
		out[i] = FileInfo{Path: e.Path, Dir: e.Kind == KindDir, Size: e.Size, Done: t.fileDone[i]}
	}
	return out
}

// entryFiles lists every entry of man, with no progress.
func entryFiles(man *Manifest) []FileInfo {
	out := make([]FileInfo, len(man.Entries))
	for i := range man.Entries {
		e := &man.Entries[i]
		out[i] = FileInfo{Path: e.Path, Dir: e.Kind == KindDir, Size: e.Size}
	}
	return out
}

// totalSize is the bytes of every file of t.
func (t *transfer) totalSize() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sum.Total
}

func (t *transfer) record() record {
	t.mu.Lock()
	defer t.mu.Unlock()
	return record{
		Version: recordVersion, ID: t.id, Direction: t.dir, Peer: t.peer.String(),
		State: t.state, Error: t.errMsg, StartedAt: t.started, UpdatedAt: t.updated,
		Sources: t.sources, Notified: t.notified, Names: t.names, Summary: &t.sum,
	}
}

func (t *transfer) isGone() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gone
}

func (t *transfer) getState() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// stateAndReason is t's state with the message that came with it.
func (t *transfer) stateAndReason() (State, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state, t.errMsg
}

// setLocked moves t to state s; t.mu is held. Leaving a terminal state takes force.
// It reports whether anything changed.
func (t *transfer) setLocked(s State, msg string, force bool) bool {
	if t.state.Terminal() && !force {
		return false
	}
	if t.state == s && t.errMsg == msg {
		return false
	}
	t.state, t.errMsg, t.updated = s, msg, time.Now()
	t.rate, t.rateAt = 0, time.Time{} // a new state starts a new rate measurement
	close(t.changed)
	t.changed = make(chan struct{})
	return true
}

// markChunk records chunk c of entry f (verified or served) and reports whether a
// progress event is due.
func (t *transfer) markChunk(f int, c int64, n int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.got[f].set(c) {
		return false
	}
	t.fileDone[f] += n
	t.done += n
	return t.progressDueLocked()
}

func (t *transfer) progressDueLocked() bool {
	now := time.Now()
	t.updated = now
	if now.Sub(t.lastEmit) < progressEvery {
		return false
	}
	t.lastEmit = now
	if dt := now.Sub(t.rateAt).Seconds(); !t.rateAt.IsZero() && dt > 0 {
		inst := float64(t.done-t.rateDone) / dt
		if t.rate == 0 {
			t.rate = inst
		} else {
			t.rate = 0.6*t.rate + 0.4*inst
		}
	}
	t.rateAt, t.rateDone = now, t.done
	return true
}

// poke wakes t's runner without blocking.
func (t *transfer) poke() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// bitset is a fixed-size set of chunk indexes.
type bitset []uint64

func newBitset(n int64) bitset { return make(bitset, (n+63)/64) }

// set adds i and reports whether it was absent.
func (b bitset) set(i int64) bool {
	w, m := i/64, uint64(1)<<(i%64)
	if b[w]&m != 0 {
		return false
	}
	b[w] |= m
	return true
}

func (b bitset) has(i int64) bool { return b[i/64]&(uint64(1)<<(i%64)) != 0 }

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}
