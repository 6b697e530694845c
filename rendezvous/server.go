package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/parley-im/parley/internal/wire"
)

// ServerConfig tunes a Server. The zero value is usable: every zero field takes the
// default named in its comment.
type ServerConfig struct {
	DefaultTTL time.Duration // granted for a REGISTER with ttl 0; default 60 s
	MinTTL     time.Duration // shortest TTL accepted; default 10 s
	MaxTTL     time.Duration // longest TTL accepted; default 10 min

	MaxPerPeer int // registrations (namespaces) one peer may hold; default 16
	MaxPerIP   int // registrations from one IP address; default 1024

	RequestsPerSecond float64 // per peer, refilling a token bucket; default 10
	Burst             int     // the bucket's size; default 30

	MaxDiscoverLimit int // registrations in one DISCOVER_RESPONSE; default 200

	PurgeInterval time.Duration // how often expired registrations are dropped; default 10 s
	IdleTimeout   time.Duration // waiting for the next request on a stream; default 30 s
	WriteTimeout  time.Duration // writing one response; default 10 s

	Log *slog.Logger // default: discard
}

func (c ServerConfig) withDefaults() ServerConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DefaultTTL, 60*time.Second)
	def(&c.MinTTL, 10*time.Second)
	def(&c.MaxTTL, 10*time.Minute)
	def(&c.PurgeInterval, 10*time.Second)
	def(&c.IdleTimeout, 30*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	if c.MaxPerPeer <= 0 {
		c.MaxPerPeer = 16
	}
	if c.MaxPerIP <= 0 {
		c.MaxPerIP = 1024
	}
	if c.RequestsPerSecond <= 0 {
		c.RequestsPerSecond = 10
	}
	if c.Burst <= 0 {
		c.Burst = 30
	}
	if c.MaxDiscoverLimit <= 0 {
		c.MaxDiscoverLimit = 200
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Stats are a Server's counters, for metrics.
type Stats struct {
	Registrations int // live registrations (expired ones count until purged)
	Namespaces    int

	Requests    uint64 // well-formed requests of every type
	Registers   uint64 // REGISTER requests accepted
	Discovers   uint64 // DISCOVER requests answered with OK
	Unregisters uint64
	Rejected    uint64 // requests answered with a status other than OK
	RateLimited uint64 // of Rejected, those over the per-peer request rate
	Malformed   uint64 // streams reset for a malformed or unexpected frame
	Expired     uint64 // registrations dropped by the purge
}

// Server answers /rendezvous/1.0.0 on a libp2p host from in-memory state.
type Server struct {
	host    host.Host
	cfg     ServerConfig
	log     *slog.Logger
	store   *store
	limiter *limiter

	requests, registers, discovers, unregisters atomic.Uint64
	rejected, rateLimited, malformed, expired   atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	streams map[network.Stream]struct{}
	closed  bool
}

// NewServer registers the protocol's stream handler on h and starts the purge ticker.
// Close stops both.
func NewServer(h host.Host, cfg ServerConfig) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		host:    h,
		cfg:     cfg,
		log:     cfg.Log,
		store:   newStore(),
		limiter: newLimiter(cfg.RequestsPerSecond, cfg.Burst),
		streams: make(map[network.Stream]struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.purgeLoop()
	h.SetStreamHandler(ProtocolID, s.handle)
	return s
}

// Close stops answering, resets the streams being served and waits for the purge
// ticker and the handlers. It is idempotent; the host stays up.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.host.RemoveStreamHandler(ProtocolID)
	for st := range s.streams {
		st.Reset()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	regs, spaces := s.store.counts()
	return Stats{
		Registrations: regs,
		Namespaces:    spaces,
		Requests:      s.requests.Load(),
		Registers:     s.registers.Load(),
		Discovers:     s.discovers.Load(),
		Unregisters:   s.unregisters.Load(),
		Rejected:      s.rejected.Load(),
		RateLimited:   s.rateLimited.Load(),
		Malformed:     s.malformed.Load(),
		Expired:       s.expired.Load(),
	}
}

func (s *Server) purgeLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.PurgeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.expired.Add(uint64(s.store.purge(now)))
			s.limiter.purge(now)
		}
	}
}

// track adds st to the streams Close resets; false once the server is closed.
func (s *Server) track(st network.Stream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.streams[st] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(st network.Stream) {
	s.mu.Lock()
	delete(s.streams, st)
	s.mu.Unlock()
	s.wg.Done()
}

// handle serves one inbound stream: requests in, responses out, until EOF.
func (s *Server) handle(st network.Stream) {
	if !s.track(st) {
		st.Reset()
		return
	}
	defer s.untrack(st)
	from := st.Conn().RemotePeer()
	if err := s.serve(st, from, ipGroup(st.Conn().RemoteMultiaddr())); err != nil {
		s.log.Debug("rendezvous stream reset", "peer", from, "err", err)
		if errors.Is(err, ErrMalformed) {
			s.malformed.Add(1)
		}
		st.Reset()
		return
	}
	st.Close()
}

func (s *Server) serve(st network.Stream, from peer.ID, ip string) error {
	fr := wire.StreamReader(st, nil, 4096)
	defer fr.Release()
	for {
		st.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		m, err := ReadMessageFrom(fr)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := s.answer(from, ip, m)
		if err != nil {
			return err
		}
		if resp == nil {
			continue
		}
		st.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := st.Write(AppendMessage(nil, *resp)); err != nil {
			return fmt.Errorf("write %v: %w", resp.Type, err)
		}
	}
}

// answer handles one request and returns its response (nil for UNREGISTER).
func (s *Server) answer(from peer.ID, ip string, m Message) (*Message, error) {
	s.requests.Add(1)
	switch m.Type {
	case TypeRegister:
		rr := s.register(from, ip, m.Register)
		s.count(rr.Status, &s.registers)
		return &Message{Type: TypeRegisterResponse, RegisterResponse: rr}, nil
	case TypeDiscover:
		dr := s.discover(from, m.Discover)
		s.count(dr.Status, &s.discovers)
		return &Message{Type: TypeDiscoverResponse, DiscoverResponse: dr}, nil
	case TypeUnregister:
		s.store.remove(m.Unregister.Namespace, from)
		s.unregisters.Add(1)
		return nil, nil
	}
	return nil, fmt.Errorf("%w: unexpected %v from a client", ErrMalformed, m.Type)
}

func (s *Server) count(st Status, ok *atomic.Uint64) {
	if st == StatusOK {
		ok.Add(1)
		return
	}
	s.rejected.Add(1)
	if st == StatusUnavailable {
		s.rateLimited.Add(1)
	}
}

func (s *Server) register(from peer.ID, ip string, req Register) RegisterResponse {
	fail := func(st Status, format string, args ...any) RegisterResponse {
		text := fmt.Sprintf(format, args...)
		s.log.Debug("rendezvous register rejected", "peer", from, "status", st, "why", text)
		return RegisterResponse{Status: st, StatusText: text}
	}
	if !s.limiter.allow(from, time.Now()) {
		return fail(StatusUnavailable, "too many requests; slow down")
	}
	if err := checkNamespace(req.Namespace); err != nil {
		return fail(StatusInvalidNamespace, "%v", err)
	}
	ttl, err := s.ttl(req.TTL)
	if err != nil {
		return fail(StatusInvalidTTL, "%v", err)
	}
	if st, err := verifyRecord(req.SignedPeerRecord, from); err != nil {
		return fail(st, "%v", err)
	}
	now := time.Now()
	r := &registration{peer: from, ns: req.Namespace, record: req.SignedPeerRecord, ip: ip, expires: now.Add(ttl)}
	if err := s.store.add(r, quota{perPeer: s.cfg.MaxPerPeer, perIP: s.cfg.MaxPerIP}); err != nil {
		return fail(StatusUnavailable, "%v", err)
	}
	return RegisterResponse{Status: StatusOK, TTL: uint64(ttl / time.Second)}
}

// ttl turns a requested TTL in seconds into the one granted.
func (s *Server) ttl(secs uint64) (time.Duration, error) {
	if secs == 0 {
		return s.cfg.DefaultTTL, nil
	}
	max := uint64(s.cfg.MaxTTL / time.Second)
	if secs > max || time.Duration(secs)*time.Second < s.cfg.MinTTL {
		return 0, fmt.Errorf("ttl %d s outside %v..%v", secs, s.cfg.MinTTL, s.cfg.MaxTTL)
	}
	return time.Duration(secs) * time.Second, nil
}

func checkNamespace(ns string) error {
	if ns == "" || len(ns) > MaxNamespaceLen {
		return fmt.Errorf("namespace is %d bytes; want 1..%d", len(ns), MaxNamespaceLen)
	}
	return nil
}

// verifyRecord checks a signed peer record sent by peer from: the signature must
// verify, and the signing key, the record's peer ID and from must agree.
func verifyRecord(b []byte, from peer.ID) (Status, error) {
	if len(b) == 0 || len(b) > MaxRecordLen {
		return StatusInvalidSignedPeerRecord, fmt.Errorf("signed peer record is %d bytes; want 1..%d", len(b), MaxRecordLen)
	}
	id, _, err := openRecord(b)
	if errors.Is(err, errForeignSigner) {
		return StatusNotAuthorized, err
	}
	if err != nil {
		return StatusInvalidSignedPeerRecord, err
	}
	if id != from {
		return StatusNotAuthorized, fmt.Errorf("peer record of %s sent by %s", id, from)
	}
	return StatusOK, nil
}

// openRecord verifies a signed peer record and returns its peer ID and addresses. The
// record's peer ID must be the signer's.
func openRecord(b []byte) (peer.ID, []ma.Multiaddr, error) {
	env, rec, err := record.ConsumeEnvelope(b, peer.PeerRecordEnvelopeDomain)
	if err != nil {
		return "", nil, fmt.Errorf("signed peer record: %w", err)
	}
	pr, ok := rec.(*peer.PeerRecord)
	if !ok {
		return "", nil, fmt.Errorf("signed record holds a %T, not a peer record", rec)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return "", nil, fmt.Errorf("signed peer record: %w", err)
	}
	if signer != pr.PeerID {
		return "", nil, fmt.Errorf("%w: record of %s signed by %s", errForeignSigner, pr.PeerID, signer)
	}
	return pr.PeerID, pr.Addrs, nil
}

var errForeignSigner = errors.New("peer record signed by another key")

func (s *Server) discover(from peer.ID, req Discover) DiscoverResponse {
	if !s.limiter.allow(from, time.Now()) {
		return DiscoverResponse{Status: StatusUnavailable, StatusText: "too many requests; slow down"}
	}
	if err := checkNamespace(req.Namespace); err != nil {
		return DiscoverResponse{Status: StatusInvalidNamespace, StatusText: err.Error()}
	}
	limit := s.cfg.MaxDiscoverLimit
	if req.Limit > 0 && req.Limit < uint64(limit) {
		limit = int(req.Limit)
	}
	// Leave room for the frame's length, type, cookie and status around the registrations.
	budget := MaxFrame - 64
	regs, cookie, err := s.store.discover(req.Namespace, req.Cookie, limit, budget, time.Now())
	if err != nil {
		return DiscoverResponse{Status: StatusInvalidCookie, StatusText: err.Error()}
	}
	return DiscoverResponse{Registrations: regs, Cookie: cookie}
}

// ipGroup is what a per-IP quota counts a connection under: for IPv4 its remote
// address, for IPv6 the address's /64 (a host is usually handed a whole /64, so its
// addresses in it are free to it; counting them apart would let one host take any
// quota). An IPv4-mapped IPv6 address counts as its IPv4 address. For a relayed
// connection it is the relay's address; a multiaddr that holds no IP counts as itself.
func ipGroup(a ma.Multiaddr) string {
	if a == nil {
		return ""
	}
	ip, err := manet.ToIP(a)
	if err != nil {
		return a.String()
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return a.String()
	}
	if addr = addr.Unmap(); addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}

// signRecord seals a peer record for info with key.
func signRecord(key crypto.PrivKey, info peer.AddrInfo) ([]byte, error) {
	env, err := record.Seal(peer.PeerRecordFromAddrInfo(info), key)
	if err != nil {
		return nil, fmt.Errorf("sign peer record: %w", err)
	}
	return env.Marshal()
}
