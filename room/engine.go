package room

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Errors callers branch on.
var (
	ErrNotJoined   = errors.New("room is not joined")
	ErrJoined      = errors.New("room is already joined")
	ErrNotAllowed  = errors.New("not allowed to post in this room")
	ErrStale       = errors.New("room update is older than the room held")
	ErrNotSameRoom = errors.New("room update names another creator or nonce than the room held")
	ErrClosed      = errors.New("room engine is closed")
	ErrNoKey       = errors.New("room engine has no signing key (Config.Key)")
	// ErrKeyOutOfDate: a member's message came sealed under a newer epoch than the
	// room held, so a rotation (a removal) happened that this node has not been told
	// of. Posting under the old key would let the removed member read it.
	ErrKeyOutOfDate = errors.New("room key out of date: members post under a newer key this node has not received")
)

// MaxClockSkew is how far ahead of the local clock a message's author clock may be. A
// message from further in the future is dropped: it would sort after everything sent
// later and fall outside every catch-up window until its time came.
const MaxClockSkew = 10 * time.Minute

// MaxEpochStep bounds the epoch claims that stop this node from posting: an envelope
// sealed under an epoch above held+MaxEpochStep is too far ahead to be a rotation this
// node missed while away; it is still reported (Config.OnNewerEpoch), never believed.
const MaxEpochStep = 8

// DefaultClaimHold is Config.ClaimHold's default: how long one author's claim of a newer
// epoch may stop Publish when the creator does not answer.
const DefaultClaimHold = 2 * time.Minute

// seenCap bounds the message IDs remembered per room for dropping duplicates.
const seenCap = 8192

// subBuffer is the subscription's queue; pubsub drops messages for a full queue.
const subBuffer = 1024

// Config holds an Engine's settings; the zero value works for an engine that only reads.
type Config struct {
	// Key signs published messages; it must be the private key of the engine's peer ID.
	// Without it Publish fails with ErrNoKey.
	Key libp2pcrypto.PrivKey
	// OnMessage receives every accepted message once: from one goroutine per room for
	// messages from the topic, and from Deliver's caller for synced ones. It must return
	// quickly. Arrival order may differ between members; show messages sorted by Compare.
	OnMessage func(room ID, m Message)
	// OnNewerEpoch is told, from the topic's validator, that a member sealed a message
	// under an epoch newer than the held one: this node may have missed a rotation and
	// should ask the room's creator for its state. Never called on the creator, whose
	// own state is authoritative. It must return quickly.
	OnNewerEpoch func(room ID, author peer.ID, epoch uint64)
	// Blocked reports authors whose messages are dropped. Called concurrently.
	Blocked func(peer.ID) bool
	Logger  *slog.Logger
	Now     func() time.Time
	// ClaimHold bounds how long a member's claim of a newer epoch stops Publish
	// (ErrKeyOutOfDate) while the creator's state does not come: from when this node
	// first saw that author's claim. Each author starts at most one hold per epoch held.
	// Zero means DefaultClaimHold.
	ClaimHold time.Duration
}

// Engine joins rooms' topics on a gossipsub router, validates and opens what arrives, and
// publishes sealed messages. The router should be gossipsub with StrictSign (the default)
// and WithFloodPublish(true), so the first messages after a join are not lost.
type Engine struct {
	ps   *pubsub.PubSub
	self peer.ID
	cfg  Config

	mu     sync.Mutex
	rooms  map[ID]*joined
	closed bool
	wg     sync.WaitGroup
}

// joined is one room the engine is in. room is replaced, never mutated, so validators
// can use a snapshot without holding the lock.
type joined struct {
	room    *Room
	prev    *Room // the epoch before room's, still opened for messages in flight
	topic   *pubsub.Topic
	sub     *pubsub.Subscription
	cancel  context.CancelFunc
	done    chan struct{}
	lamport uint64 // highest Lamport counter seen or sent
	// newer is the highest epoch a member's message was sealed under since the last
	// Update, when above room's (by at most MaxEpochStep): the key held may be out of
	// date. The creator's state (Update) clears it.
	newer uint64
	// holds is, per author, the claim that stopped Publish under the held epoch: the
	// epoch claimed and when it was first seen. Publish refuses while a hold is younger
	// than ClaimHold. An author has at most one until the epoch changes: Update ends
	// every hold (its zero start) but keeps the entry, so a claim the creator's state
	// showed false, or one the window outlived, stops nobody again.
	holds  map[peer.ID]hold
	warned bool // the expired holds were logged since newer was last raised
	seen   map[seenKey]struct{}
	order  []seenKey // seen, oldest first, for eviction
}

// hold is one author's claim of a newer epoch that stopped Publish.
type hold struct {
	epoch uint64
	since time.Time // zero once the creator's state arrived
}

// seenKey names a message for dropping duplicates: its ID is the author's choice, so it
// counts only with the author (another member reusing an ID, before or after the real
// message, must not make it a duplicate).
type seenKey struct {
	author peer.ID
	id     MessageID
}

// NewEngine returns an engine publishing as self, which must be the ID of the host ps runs
// on (pubsub signs with its key).
func NewEngine(ps *pubsub.PubSub, self peer.ID, cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClaimHold <= 0 {
		cfg.ClaimHold = DefaultClaimHold
	}
	return &Engine{ps: ps, self: self, cfg: cfg, rooms: map[ID]*joined{}}
}

// Join subscribes to r's topic and starts accepting its messages.
func (e *Engine) Join(r Room) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return ErrClosed
	case e.rooms[r.ID] != nil:
		return fmt.Errorf("join room %s: %w", r.ID, ErrJoined)
	}
	snap := r.Clone()
	j := &joined{room: &snap, seen: map[seenKey]struct{}{}, done: make(chan struct{}),
		holds: map[peer.ID]hold{}}
	if err := e.ps.RegisterTopicValidator(r.Topic(), e.validator(r.ID)); err != nil {
		return fmt.Errorf("join room %s: validator: %w", r.ID, err)
	}
	var err error
	if j.topic, err = e.ps.Join(r.Topic()); err != nil {
		e.ps.UnregisterTopicValidator(r.Topic())
		return fmt.Errorf("join room %s: topic: %w", r.ID, err)
	}
	if j.sub, err = j.topic.Subscribe(pubsub.WithBufferSize(subBuffer)); err != nil {
		j.topic.Close()
		e.ps.UnregisterTopicValidator(r.Topic())
		return fmt.Errorf("join room %s: subscribe: %w", r.ID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel = cancel
	e.rooms[r.ID] = j
	e.wg.Add(1)
	go e.read(ctx, r.ID, j)
	return nil
}

// Update replaces a joined room's state with r: new members, or a rotated key. It refuses
// with ErrNotSameRoom a state whose Creator or Nonce differs from the held one, and with
// ErrStale a state of an older epoch, of another key in the same epoch, or of an older
// Version in the same epoch. The same epoch and Version again is accepted. Only the
// creator's state may be passed: it is authoritative, so it clears every claim of a
// newer epoch seen (ErrKeyOutOfDate ends), and an author whose claim stopped Publish
// cannot stop it again until the epoch changes (nor after, if its claim is above the new
// epoch).
func (e *Engine) Update(r Room) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.rooms[r.ID]
	if j == nil {
		return fmt.Errorf("update room %s: %w", r.ID, ErrNotJoined)
	}
	if err := checkUpdate(*j.room, r); err != nil {
		return fmt.Errorf("update room %s: %w", r.ID, err)
	}
	snap := r.Clone()
	if r.Epoch > j.room.Epoch {
		j.prev = j.room
	}
	for author, h := range j.holds {
		if h.epoch <= r.Epoch && r.Epoch > j.room.Epoch {
			delete(j.holds, author) // a true claim: the author may hold again later
		} else {
			j.holds[author] = hold{epoch: h.epoch}
		}
	}
	j.newer = 0
	j.room = &snap
	return nil
}

// checkUpdate says why next may not replace held, or nil if it may.
func checkUpdate(held, next Room) error {
	switch {
	case next.Creator != held.Creator:
		return fmt.Errorf("created by %s, held as created by %s: %w", next.Creator, held.Creator, ErrNotSameRoom)
	case next.Nonce != held.Nonce:
		return fmt.Errorf("nonce %x, held: %x: %w", next.Nonce, held.Nonce, ErrNotSameRoom)
	case next.Epoch < held.Epoch:
		return fmt.Errorf("epoch %d, held: %d: %w", next.Epoch, held.Epoch, ErrStale)
	case next.Epoch > held.Epoch:
		return nil
	case next.Key != held.Key:
		return fmt.Errorf("another key in epoch %d: %w", next.Epoch, ErrStale)
	case next.Version < held.Version:
		return fmt.Errorf("version %d, held: %d: %w", next.Version, held.Version, ErrStale)
	}
	return nil
}

// SeedLamport raises a joined room's Lamport counter to at least l (at most MaxLamport), so
// messages published after a restart sort after those sent before it; the node seeds it
// from its archive. It does nothing for a room not joined.
func (e *Engine) SeedLamport(id ID, l uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if j := e.rooms[id]; j != nil {
		j.lamport = max(j.lamport, min(l, MaxLamport))
	}
}

// inBounds reports whether m's Lamport counter is at most MaxLamport and its author clock
// at most MaxClockSkew ahead of the local clock.
func (e *Engine) inBounds(m Message) bool {
	return m.Lamport <= MaxLamport && !m.Clock.After(e.cfg.Now().Add(MaxClockSkew))
}

// Rotate gives a joined room a fresh key in the next epoch without the removed members,
// starts using it, and returns the new state for the remaining members.
func (e *Engine) Rotate(id ID, remove ...peer.ID) (Room, error) {
	r, ok := e.Room(id)
	if !ok {
		return Room{}, fmt.Errorf("rotate room %s: %w", id, ErrNotJoined)
	}
	next, err := r.Rotate(remove...)
	if err != nil {
		return Room{}, err
	}
	if err := e.Update(next); err != nil {
		return Room{}, err
	}
	return next.Clone(), nil
}

// Peers lists the peers known to be subscribed to a joined room's topic: whom a
// message published now reaches directly.
func (e *Engine) Peers(id ID) []peer.ID {
	e.mu.Lock()
	j := e.rooms[id]
	e.mu.Unlock()
	if j == nil {
		return nil
	}
	return j.topic.ListPeers()
}

// Room returns a copy of a joined room's current state.
func (e *Engine) Room(id ID) (Room, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if j := e.rooms[id]; j != nil {
		return j.room.Clone(), true
	}
	return Room{}, false
}

// Publish signs and seals text as a new message from self and publishes it on the room's
// topic.
func (e *Engine) Publish(ctx context.Context, id ID, text string) (Message, error) {
	if e.cfg.Key == nil {
		return Message{}, fmt.Errorf("post to room %s: %w", id, ErrNoKey)
	}
	m := Message{Author: e.self, Clock: e.cfg.Now(), Text: text}
	if _, err := rand.Read(m.ID[:]); err != nil {
		return Message{}, err
	}
	e.mu.Lock()
	j := e.rooms[id]
	if j == nil {
		e.mu.Unlock()
		return Message{}, fmt.Errorf("post to room %s: %w", id, ErrNotJoined)
	}
	r := j.room
	if !r.CanPost(e.self) {
		e.mu.Unlock()
		return Message{}, fmt.Errorf("post to room %s: %w", id, ErrNotAllowed)
	}
	if err := e.held(j, id); err != nil {
		e.mu.Unlock()
		return Message{}, err
	}
	if j.lamport < MaxLamport {
		j.lamport++
	}
	m.Lamport = j.lamport
	topic := j.topic
	e.mu.Unlock()

	if err := SignMessage(&m, id, e.cfg.Key); err != nil {
		return Message{}, fmt.Errorf("post to room %s: %w", id, err)
	}
	env, err := r.Seal(m)
	if err != nil {
		return Message{}, fmt.Errorf("post to room %s: %w", id, err)
	}
	if err := topic.Publish(ctx, env); err != nil {
		return Message{}, fmt.Errorf("post to room %s: %w", id, err)
	}
	return m, nil
}

// validator drops what members must not see or forward; see the package doc.
func (e *Engine) validator(id ID) pubsub.ValidatorEx {
	return func(_ context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
		e.mu.Lock()
		j := e.rooms[id]
		var r, prev *Room
		if j != nil {
			r, prev = j.room, j.prev
		}
		e.mu.Unlock()
		author := msg.GetFrom()
		switch {
		case r == nil:
			return pubsub.ValidationIgnore
		case len(msg.Data) > MaxEnvelope || author == "":
			return pubsub.ValidationReject
		case e.cfg.Blocked != nil && e.cfg.Blocked(author):
			return pubsub.ValidationIgnore
		case !r.CanPost(author):
			return pubsub.ValidationReject
		}
		m, err := r.Open(msg.Data)
		if errors.Is(err, ErrEpoch) && prev != nil {
			m, err = prev.Open(msg.Data) // sent before the author learnt of a rotation
		}
		switch {
		case errors.Is(err, ErrEpoch):
			e.noteEpoch(id, r, author, msg.Data)
			return pubsub.ValidationIgnore
		case err != nil:
			e.cfg.Logger.Debug("room message dropped", "room", id, "author", author, "err", err)
			return pubsub.ValidationReject
		case m.Author != author:
			return pubsub.ValidationReject
		case !e.inBounds(m):
			e.cfg.Logger.Debug("room message dropped: clock too far ahead", "room", id, "author", author, "clock", m.Clock)
			return pubsub.ValidationReject
		}
		if err := m.VerifyAuthor(id); err != nil {
			e.cfg.Logger.Debug("room message dropped", "room", id, "author", author, "err", err)
			return pubsub.ValidationReject
		}
		msg.ValidatorData = m
		return pubsub.ValidationAccept
	}
}

// noteEpoch records that author, a member as far as this node knows, sealed data under an
// epoch newer than r's: this node may have missed a rotation. The creator ignores it (its
// state is the room's). A claim within MaxEpochStep of the held epoch, from an author
// without a hold yet, stops Publish until the creator's state arrives or ClaimHold
// passes; every claim is reported to OnNewerEpoch, so the node asks the creator.
func (e *Engine) noteEpoch(id ID, r *Room, author peer.ID, data []byte) {
	env, err := ParseEnvelope(data)
	if err != nil || env.Epoch <= r.Epoch || r.Creator == e.self {
		return
	}
	e.mu.Lock()
	if j := e.rooms[id]; j != nil && j.room == r {
		e.believe(j, id, author, env.Epoch)
	}
	e.mu.Unlock()
	if e.cfg.OnNewerEpoch != nil {
		e.cfg.OnNewerEpoch(id, author, env.Epoch)
	}
}

// believe marks j's key out of date for a bounded claim from an author without a hold
// under the held epoch, and starts its hold. Called with e.mu held.
func (e *Engine) believe(j *joined, id ID, author peer.ID, epoch uint64) {
	if _, had := j.holds[author]; had || epoch-j.room.Epoch > MaxEpochStep {
		return
	}
	j.holds[author] = hold{epoch: epoch, since: e.cfg.Now()}
	if epoch > j.newer {
		j.newer = epoch
		j.warned = false
		e.cfg.Logger.Info("room key may be out of date: a member posts under a newer epoch", "room", id, "held", j.room.Epoch, "seen", epoch, "author", author)
	}
}

// held says why Publish must wait: a member's claim of a newer epoch younger than
// ClaimHold, or the creator's own (its messages are signed by it, so that claim is true),
// which holds until its state arrives. Past the window it lets Publish go, logging once
// that the key may be out of date. Called with e.mu held.
func (e *Engine) held(j *joined, id ID) error {
	if j.newer <= j.room.Epoch {
		return nil
	}
	var until time.Time
	for author, h := range j.holds {
		switch end := h.since.Add(e.cfg.ClaimHold); {
		case h.since.IsZero():
		case author == j.room.Creator:
			return fmt.Errorf("post to room %s (epoch %d held, the creator posts under %d; asked it for the new key): %w",
				id, j.room.Epoch, h.epoch, ErrKeyOutOfDate)
		case end.After(until):
			until = end
		}
	}
	if e.cfg.Now().Before(until) {
		return fmt.Errorf("post to room %s (epoch %d held, %d seen; asked the creator, posting again by %s at the latest): %w",
			id, j.room.Epoch, j.newer, until.Format(time.TimeOnly), ErrKeyOutOfDate)
	}
	if !j.warned {
		j.warned = true
		e.cfg.Logger.Warn("room key may be out of date: the creator has not answered, posting under the held key, which a removed member may hold",
			"room", id, "held", j.room.Epoch, "seen", j.newer, "waited", e.cfg.ClaimHold)
	}
	return nil
}

// read delivers a room's accepted messages until ctx is cancelled.
func (e *Engine) read(ctx context.Context, id ID, j *joined) {
	defer e.wg.Done()
	defer close(j.done)
	for {
		msg, err := j.sub.Next(ctx)
		if err != nil {
			return
		}
		m, ok := msg.ValidatorData.(Message)
		if !ok || !e.firstSight(j, m) {
			continue
		}
		if e.cfg.OnMessage != nil {
			e.cfg.OnMessage(id, m)
		}
	}
}

// Deliver hands over a message that arrived by sync rather than on the topic: it is
// accepted if the room is joined, its author's signature verifies for this room, the
// author may post in the room's current state (a member; in an announcement room an
// owner) and is not blocked, its Lamport counter and clock are in bounds (MaxLamport,
// MaxClockSkew), and the message was not seen before; then it advances the Lamport
// counter, goes to OnMessage, and Deliver returns true. A removed member's messages are
// refused: sync carries the history of current members only.
func (e *Engine) Deliver(id ID, m Message) bool {
	if m.Validate() != nil || !e.inBounds(m) || m.VerifyAuthor(id) != nil {
		return false
	}
	if e.cfg.Blocked != nil && e.cfg.Blocked(m.Author) {
		return false
	}
	e.mu.Lock()
	j := e.rooms[id]
	e.mu.Unlock()
	if j == nil || !e.firstSight(j, m) {
		return false
	}
	if e.cfg.OnMessage != nil {
		e.cfg.OnMessage(id, m)
	}
	return true
}

// firstSight records m and advances the Lamport counter; it is false for a duplicate, and
// for a message whose author may not post in the room's current state.
func (e *Engine) firstSight(j *joined, m Message) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := seenKey{m.Author, m.ID}
	if _, dup := j.seen[k]; dup || !j.room.CanPost(m.Author) {
		return false
	}
	if len(j.order) == seenCap {
		delete(j.seen, j.order[0])
		j.order = j.order[1:]
	}
	j.seen[k] = struct{}{}
	j.order = append(j.order, k)
	j.lamport = max(j.lamport, m.Lamport)
	return true
}

// Leave stops accepting a room's messages and leaves its topic.
func (e *Engine) Leave(id ID) error {
	e.mu.Lock()
	j := e.rooms[id]
	delete(e.rooms, id)
	e.mu.Unlock()
	if j == nil {
		return fmt.Errorf("leave room %s: %w", id, ErrNotJoined)
	}
	e.stop(id, j)
	return nil
}

func (e *Engine) stop(id ID, j *joined) {
	j.cancel()
	j.sub.Cancel()
	<-j.done
	e.ps.UnregisterTopicValidator(id.Topic())
	if err := j.topic.Close(); err != nil {
		e.cfg.Logger.Debug("room topic close", "room", id, "err", err)
	}
}

// Close leaves every room and waits for the engine's goroutines. It is idempotent; the
// pubsub router is the caller's to stop.
func (e *Engine) Close() error {
	e.mu.Lock()
	rooms := e.rooms
	e.rooms = map[ID]*joined{}
	e.closed = true
	e.mu.Unlock()
	for id, j := range rooms {
		e.stop(id, j)
	}
	e.wg.Wait()
	return nil
}
