package mailbox

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/wire"
)

// Defaults of a Server (see doc.go, "Quotas").
const (
	DefaultTTL        = 14 * 24 * time.Hour
	DefaultMaxTTL     = 30 * 24 * time.Hour
	DefaultPurgeEvery = 10 * time.Minute
	// IdleTimeout ends a stream on which no request arrived for this long; WriteTimeout
	// bounds writing one answer.
	IdleTimeout  = 30 * time.Second
	WriteTimeout = 10 * time.Second
)

// Quota bounds what is held for one key: envelopes and bytes.
type Quota struct {
	Count int
	Bytes int64
}

// Quotas are a Server's limits. The zero value of a field means its default.
type Quotas struct {
	Total             Quota // everything held: the disk cap; default 200,000 and 1 GiB
	RecipientContact  Quota // per recipient who is the owner's contact (or a known room); default 10,000 and 256 MiB
	RecipientStranger Quota // per other recipient; default 1,000 and 32 MiB
	DepositorContact  Quota // held at once from one depositor who is a contact; default 10,000 and 256 MiB
	DepositorStranger Quota // held at once from one other depositor; default 200 and 4 MiB
	Strangers         Quota // held at once from all non-contact depositors together; default 5,000 and 64 MiB
	MaxEnvelope       int   // bytes of one envelope; default and at most MaxEnvelope
}

// DefaultQuotas are the quotas a zero Quotas means.
var DefaultQuotas = Quotas{
	Total:             Quota{200_000, 1 << 30},
	RecipientContact:  Quota{10_000, 256 << 20},
	RecipientStranger: Quota{1_000, 32 << 20},
	DepositorContact:  Quota{10_000, 256 << 20},
	DepositorStranger: Quota{200, 4 << 20},
	Strangers:         Quota{5_000, 64 << 20},
	MaxEnvelope:       MaxEnvelope,
}

func (q Quota) or(d Quota) Quota {
	if q.Count <= 0 {
		q.Count = d.Count
	}
	if q.Bytes <= 0 {
		q.Bytes = d.Bytes
	}
	return q
}

func (q Quotas) withDefaults() Quotas {
	d := DefaultQuotas
	q.Total = q.Total.or(d.Total)
	q.RecipientContact = q.RecipientContact.or(d.RecipientContact)
	q.RecipientStranger = q.RecipientStranger.or(d.RecipientStranger)
	q.DepositorContact = q.DepositorContact.or(d.DepositorContact)
	q.DepositorStranger = q.DepositorStranger.or(d.DepositorStranger)
	q.Strangers = q.Strangers.or(d.Strangers)
	if q.MaxEnvelope <= 0 || q.MaxEnvelope > MaxEnvelope {
		q.MaxEnvelope = MaxEnvelope
	}
	return q
}

// Config configures a Server. Host and Dir are required; nil callbacks mean "nobody".
type Config struct {
	Host   host.Host
	Dir    string        // the store, Dir/mailbox.db (created 0700/0600)
	TTL    time.Duration // kept this long when a deposit asks for no TTL; 0: DefaultTTL
	MaxTTL time.Duration // the longest TTL granted; 0: DefaultMaxTTL (at least TTL)
	Quotas Quotas
	// IsContact says whether a peer is the mailbox owner's contact: contacts get the
	// contact quotas as depositors and as recipients.
	IsContact func(peer.ID) bool
	// IsKnownRoom says whether the owner is a member of a room: its mail gets the
	// contact recipient quota. nil: rooms get the stranger quota.
	IsKnownRoom func(roomID []byte) bool
	// Accept, if set, may refuse a deposit (a blocked depositor, or a recipient the owner
	// does not keep mail for): the answer is StatusNotAllowed.
	Accept func(depositor peer.ID, to Address) bool
	// Limit, if set, rate-limits requests per peer: one over the limit is answered
	// StatusRateLimited, and a peer the limiter calls abusive is disconnected.
	Limit *ratelimit.Limiter[peer.ID]
	// FrameBudget, if set, gives the budget of large frames (over wire.SmallFrame: a
	// DEPOSIT near MaxEnvelope) read from a peer; nil: no bound beyond the stream's scope.
	FrameBudget func(peer.ID) *wire.Budget
	PurgeEvery  time.Duration    // 0: DefaultPurgeEvery
	Now         func() time.Time // nil: time.Now (a test hook)
	Logger      *slog.Logger
}

// Metrics are a Server's counters since it started, and what it holds now.
type Metrics struct {
	Held, HeldBytes int64  // held now
	Deposited       uint64 // deposits accepted
	Refused         uint64 // deposits refused (full, quota, too large, not allowed, rate limited)
	Fetched         uint64 // envelopes handed out in MAIL pages
	Acked           uint64 // envelopes deleted by their recipient's ACK
	Expired         uint64 // envelopes deleted at the end of their TTL
}

// Server keeps mail for others on a libp2p host, answering ProtocolID. Every goroutine
// it starts ends in Close.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store *store

	deposited, refused, fetched, acked, expired atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the purge loop and the streams being answered
	once   sync.Once

	mu      sync.Mutex
	closed  bool
	streams map[network.Stream]struct{} // being answered; reset by Close
}

// NewServer opens the store in cfg.Dir, purges what expired, registers the stream
// handler and starts the purge loop.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Host == nil || cfg.Dir == "" {
		return nil, errors.New("mailbox: a Server needs a Host and a Dir")
	}
	cfg = cfg.withDefaults()
	st, err := openStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, store: st, streams: map[network.Stream]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.purge()
	cfg.Host.SetStreamHandler(ProtocolID, s.handle)
	s.wg.Add(1)
	go s.purgeLoop()
	return s, nil
}

func (c Config) withDefaults() Config {
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	c.MaxTTL = max(c.MaxTTL, c.TTL)
	c.Quotas = c.Quotas.withDefaults()
	if c.IsContact == nil {
		c.IsContact = func(peer.ID) bool { return false }
	}
	if c.PurgeEvery <= 0 {
		c.PurgeEvery = DefaultPurgeEvery
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Close stops serving, resets the streams being answered, waits for them and the purge
// loop, and closes the store. It is safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		s.cfg.Host.RemoveStreamHandler(ProtocolID)
		s.mu.Lock()
		s.closed = true
		for st := range s.streams {
			st.Reset()
		}
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		err = s.store.close()
	})
	return err
}

// Metrics returns the counters.
func (s *Server) Metrics() Metrics {
	n, b := s.store.usage()
	return Metrics{Held: int64(n), HeldBytes: b, Deposited: s.deposited.Load(), Refused: s.refused.Load(),
		Fetched: s.fetched.Load(), Acked: s.acked.Load(), Expired: s.expired.Load()}
}

// Holdings lists what is held per recipient, largest first: counts, never contents
// (for `parley mailbox status` on the host).
func (s *Server) Holdings() []Holding { return s.store.holdings() }

// Purge deletes expired mail now and returns how many envelopes it deleted (the loop
// does this every PurgeEvery; a test hook and for a CLI command).
func (s *Server) Purge() int { return s.purge() }

func (s *Server) purge() int {
	n, err := s.store.purge(s.ctx, s.cfg.Now())
	s.expired.Add(uint64(n))
	if err != nil && s.ctx.Err() == nil {
		s.log.Warn("mailbox: purging expired mail failed; trying again later", "err", err)
	}
	if n > 0 {
		s.log.Info("mailbox: expired mail deleted", "envelopes", n)
	}
	return n
}

func (s *Server) purgeLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.PurgeEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.purge()
		}
	}
}

// handle answers one stream's requests in order until it ends, idles or misbehaves.
func (s *Server) handle(st network.Stream) {
	if !s.enter(st) {
		st.Reset()
		return
	}
	defer s.leave(st)
	from := st.Conn().RemotePeer()
	var budget *wire.Budget
	if s.cfg.FrameBudget != nil {
		budget = s.cfg.FrameBudget(from)
	}
	r := wire.StreamReader(st, budget, 4096)
	defer r.Release()
	for {
		st.SetReadDeadline(time.Now().Add(IdleTimeout))
		t, p, err := r.ReadTyped(requestLimit)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.log.Debug("mailbox: stream ended", "peer", from, "err", err)
				st.Reset()
			}
			return
		}
		req, err := DecodeRequest(t, p)
		if err != nil {
			s.log.Debug("mailbox: malformed request", "peer", from, "err", err)
			st.Reset()
			return
		}
		ans, abusive := s.answer(from, req)
		st.SetWriteDeadline(time.Now().Add(WriteTimeout))
		if _, err := st.Write(ans); err != nil {
			st.Reset()
			return
		}
		if abusive {
			s.log.Info("mailbox: disconnecting a peer that keeps going past its rate limit", "peer", from)
			st.Reset()
			s.cfg.Host.Network().ClosePeer(from)
			return
		}
	}
}

// enter registers a stream being answered, unless the server is closed.
func (s *Server) enter(st network.Stream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.streams[st] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) leave(st network.Stream) {
	st.Close()
	s.mu.Lock()
	delete(s.streams, st)
	s.mu.Unlock()
	s.wg.Done()
}

// answer serves one request and returns its answer frame.
func (s *Server) answer(from peer.ID, req Request) ([]byte, bool) {
	if s.cfg.Limit != nil {
		if d := s.cfg.Limit.Allow(from); !d.Allowed {
			if req.Deposit != nil {
				s.refused.Add(1)
			}
			return refusal(req, StatusRateLimited), d.Abusive
		}
	}
	switch {
	case req.Deposit != nil:
		return AppendDeposited(nil, s.deposit(from, *req.Deposit)), false
	case req.Fetch != nil:
		return AppendMail(nil, s.fetch(from, *req.Fetch)), false
	case req.Ack != nil:
		return AppendAcked(nil, s.ack(from, *req.Ack)), false
	default:
		return AppendCounts(nil, s.status(from, *req.Status)), false
	}
}

// refusal is the answer of req's type with only a status.
func refusal(req Request, st Status) []byte {
	switch {
	case req.Deposit != nil:
		return AppendDeposited(nil, Deposited{Status: st})
	case req.Fetch != nil:
		return AppendMail(nil, Mail{Status: st})
	case req.Ack != nil:
		return AppendAcked(nil, Acked{Status: st})
	default:
		return AppendCounts(nil, Counts{Status: st})
	}
}

// access decides whether from may read or ack mail for a, and returns the access value
// its envelopes are stored under (nil for a peer, the secret's hash for a room).
func access(from peer.ID, a Address, secret []byte) ([]byte, Status) {
	switch a.Kind {
	case KindPeer:
		if string(a.ID) != string(from) {
			return nil, StatusNotAllowed
		}
		return nil, StatusOK
	case KindRoom:
		if len(secret) < 16 {
			return nil, StatusNotAllowed
		}
		h := sha256.Sum256(secret)
		return h[:], StatusOK
	}
	return nil, StatusUnsupported
}

func (s *Server) deposit(from peer.ID, d Deposit) Deposited {
	st, ans := s.admit(from, d)
	if st != StatusOK {
		s.refused.Add(1)
		return Deposited{Status: st}
	}
	id, st, err := s.store.put(s.ctx, ans, s.limits(from, d.To))
	if err != nil {
		s.log.Warn("mailbox: a deposit could not be stored; the depositor will retry", "err", err)
	}
	if st != StatusOK {
		s.refused.Add(1)
		return Deposited{Status: st}
	}
	s.deposited.Add(1)
	return Deposited{Status: StatusOK, ID: id, Expires: ans.expires}
}

// admit checks a deposit against everything but the quotas and builds its record.
func (s *Server) admit(from peer.ID, d Deposit) (Status, record) {
	if len(d.Envelope) > s.cfg.Quotas.MaxEnvelope {
		return StatusTooLarge, record{}
	}
	var acc []byte
	switch d.To.Kind {
	case KindPeer:
		if _, err := peer.IDFromBytes(d.To.ID); err != nil {
			return StatusNotAllowed, record{}
		}
	case KindRoom:
		var st Status
		if acc, st = access("", d.To, d.Secret); st != StatusOK {
			return st, record{}
		}
	default:
		return StatusUnsupported, record{}
	}
	if s.cfg.Accept != nil && !s.cfg.Accept(from, d.To) {
		return StatusNotAllowed, record{}
	}
	ttl := d.TTL
	if ttl <= 0 {
		ttl = s.cfg.TTL
	}
	now := s.cfg.Now()
	return StatusOK, record{to: d.To, depositor: from, stranger: !s.cfg.IsContact(from),
		deposited: now, expires: now.Add(min(ttl, s.cfg.MaxTTL)), access: acc, envelope: d.Envelope}
}

// limits are the quotas of a deposit from from to to.
func (s *Server) limits(from peer.ID, to Address) limits {
	q := s.cfg.Quotas
	l := limits{total: q.Total, recipient: q.RecipientStranger, depositor: q.DepositorStranger, strangers: &q.Strangers}
	if s.cfg.IsContact(from) {
		l.depositor, l.strangers = q.DepositorContact, nil
	}
	switch {
	case to.Kind == KindPeer && s.cfg.IsContact(peer.ID(to.ID)),
		to.Kind == KindRoom && s.cfg.IsKnownRoom != nil && s.cfg.IsKnownRoom(to.ID):
		l.recipient = q.RecipientContact
	}
	return l
}

func (s *Server) fetch(from peer.ID, f Fetch) Mail {
	acc, st := access(from, f.To, f.Secret)
	if st != StatusOK {
		return Mail{Status: st}
	}
	limit := f.Limit
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	items, more, err := s.store.fetch(s.ctx, f.To, acc, f.After, limit, s.cfg.Now())
	if err != nil {
		s.log.Warn("mailbox: fetch failed", "err", err)
		return Mail{Status: StatusInternal}
	}
	s.fetched.Add(uint64(len(items)))
	return Mail{Status: StatusOK, Items: items, More: more}
}

func (s *Server) ack(from peer.ID, a Ack) Acked {
	if a.To.Kind != KindPeer {
		// Room mail is for every member: nobody deletes it; it goes at its TTL.
		return Acked{Status: StatusNotAllowed}
	}
	if _, st := access(from, a.To, nil); st != StatusOK {
		return Acked{Status: st}
	}
	n, err := s.store.del(s.ctx, a.To, a.IDs)
	if err != nil {
		s.log.Warn("mailbox: ack failed", "err", err)
		return Acked{Status: StatusInternal}
	}
	s.acked.Add(uint64(n))
	return Acked{Status: StatusOK, Deleted: n}
}

func (s *Server) status(from peer.ID, r StatusReq) Counts {
	acc, st := access(from, r.To, r.Secret)
	if st != StatusOK {
		return Counts{Status: st}
	}
	n, b, oldest, err := s.store.oldest(s.ctx, r.To, acc, s.cfg.Now())
	if err != nil {
		s.log.Warn("mailbox: status failed", "err", err)
		return Counts{Status: StatusInternal}
	}
	return Counts{Status: StatusOK, Count: n, Bytes: b, Oldest: oldest}
}

// String names an address for logs: a peer ID, or a room's ID in hex.
func (a Address) String() string {
	if a.Kind == KindPeer {
		if p, err := peer.IDFromBytes(a.ID); err == nil {
			return p.String()
		}
	}
	return fmt.Sprintf("%d:%x", a.Kind, a.ID)
}
