package stun

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pstun "github.com/pion/stun/v3"
)

// MaxRequestSize is the largest datagram the responder considers; bigger ones are dropped
// unread. Binding requests are tens of bytes (ICE checks a little over 100).
const MaxRequestSize = 548

// Software is the SOFTWARE attribute of every reply.
const Software = "parley"

// ErrResponderClosed is returned by Serve after Close.
var ErrResponderClosed = errors.New("stun: responder closed")

// Limit is a token bucket: Rate replies per second on average, bursts of up to Burst.
type Limit struct {
	Rate  float64
	Burst int
}

// DefaultLimit is the per-source limit a zero Responder uses: a client retransmitting or
// probing a few servers stays far below it.
var DefaultLimit = Limit{Rate: 10, Burst: 20}

// DefaultMaxSources is how many source IPs a zero Responder tracks buckets for.
const DefaultMaxSources = 10000

// Stats are the responder's counters since it was made. Received = Answered + Dropped once
// every datagram read has been handled; RateLimited is the part of Dropped that was well formed
// but over its source's limit.
type Stats struct {
	Received    uint64 `json:"received"`
	Answered    uint64 `json:"answered"`
	Dropped     uint64 `json:"dropped"`
	RateLimited uint64 `json:"rate_limited"`
}

// Responder answers STUN Binding requests on the packet connections handed to Serve. The zero
// value is ready to use with DefaultLimit and DefaultMaxSources; set fields before the first
// Serve and do not change them afterwards.
type Responder struct {
	Limit      Limit        // per source IP; zero means DefaultLimit
	MaxSources int          // buckets kept; zero means DefaultMaxSources
	Logger     *slog.Logger // debug logging; nil means none

	now func() time.Time // for tests; nil means time.Now

	received, answered, dropped, rateLimited atomic.Uint64

	mu       sync.Mutex
	conns    map[net.PacketConn]struct{}
	closed   bool
	wg       sync.WaitGroup
	buckets  map[netip.Addr]*bucket
	overflow bucket
	swept    time.Time // last sweep of a full table, so a flood of newcomers cannot make every datagram scan it
}

type bucket struct {
	tokens float64
	last   time.Time
}

// Serve reads datagrams from pc and answers Binding requests until pc fails or Close is called.
// It returns ErrResponderClosed after Close, otherwise the read error. Close closes pc; Serve
// does not close pc when it returns for another reason.
func (r *Responder) Serve(pc net.PacketConn) error {
	if !r.track(pc) {
		return ErrResponderClosed
	}
	defer r.untrack(pc)
	buf := make([]byte, MaxRequestSize+1)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if r.isClosed() {
				return ErrResponderClosed
			}
			return fmt.Errorf("stun: read: %w", err)
		}
		r.handle(pc, buf[:n], from)
	}
}

// Close closes every connection handed to Serve and waits for those Serve calls to return. It
// is idempotent.
func (r *Responder) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.wg.Wait()
		return nil
	}
	r.closed = true
	var errs []error
	for pc := range r.conns {
		if err := pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	r.mu.Unlock()
	r.wg.Wait()
	return errors.Join(errs...)
}

// Stats returns the counters.
func (r *Responder) Stats() Stats {
	return Stats{
		Received:    r.received.Load(),
		Answered:    r.answered.Load(),
		Dropped:     r.dropped.Load(),
		RateLimited: r.rateLimited.Load(),
	}
}

func (r *Responder) track(pc net.PacketConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if r.conns == nil {
		r.conns = make(map[net.PacketConn]struct{})
	}
	r.conns[pc] = struct{}{}
	r.wg.Add(1)
	return true
}

func (r *Responder) untrack(pc net.PacketConn) {
	r.mu.Lock()
	delete(r.conns, pc)
	r.mu.Unlock()
	r.wg.Done()
}

func (r *Responder) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// handle answers one datagram or drops it, and counts which.
func (r *Responder) handle(pc net.PacketConn, b []byte, from net.Addr) {
	r.received.Add(1)
	src, ok := addrPort(from)
	if !ok {
		r.drop("unusable source address", from)
		return
	}
	reply := answer(b, src)
	if reply == nil {
		r.drop("not a binding request", from)
		return
	}
	if !r.allow(src.Addr()) {
		r.rateLimited.Add(1)
		r.drop("rate limited", from)
		return
	}
	if _, err := pc.WriteTo(reply, from); err != nil {
		r.drop("write failed: "+err.Error(), from)
		return
	}
	r.answered.Add(1)
}

func (r *Responder) drop(why string, from net.Addr) {
	r.dropped.Add(1)
	if r.Logger != nil {
		r.Logger.Debug("stun: dropped datagram", "from", from, "why", why)
	}
}

// addrPort turns a net.Addr from ReadFrom into an unmapped netip.AddrPort.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		p, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.AddrPort{}, false
		}
		ap = p
	}
	ip := ap.Addr().Unmap()
	if !ip.IsValid() || ap.Port() == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.WithZone(""), ap.Port()), true
}

// answer turns a datagram from src into the bytes of the reply, or nil if it gets none.
func answer(b []byte, src netip.AddrPort) []byte {
	if len(b) > MaxRequestSize || len(b) < 20 || len(b)%4 != 0 || !pstun.IsMessage(b) {
		return nil
	}
	if int(b[2])<<8|int(b[3]) != len(b)-20 {
		return nil
	}
	req := &pstun.Message{Raw: append([]byte(nil), b...)}
	if err := req.Decode(); err != nil {
		return nil
	}
	if req.Type != pstun.BindingRequest {
		return nil
	}
	if req.Contains(pstun.AttrFingerprint) && pstun.Fingerprint.Check(req) != nil {
		return nil
	}
	res, err := pstun.Build(
		pstun.NewTransactionIDSetter(req.TransactionID),
		pstun.BindingSuccess,
		&pstun.XORMappedAddress{IP: src.Addr().AsSlice(), Port: int(src.Port())},
		pstun.NewSoftware(Software),
		pstun.Fingerprint,
	)
	if err != nil {
		return nil
	}
	return res.Raw
}

// allow takes a token from ip's bucket and reports whether there was one.
func (r *Responder) allow(ip netip.Addr) bool {
	limit := r.Limit
	if limit.Rate <= 0 || limit.Burst <= 0 {
		limit = DefaultLimit
	}
	now := time.Now()
	if r.now != nil {
		now = r.now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.bucketFor(ip, now, limit)
	b.tokens += now.Sub(b.last).Seconds() * limit.Rate
	b.tokens = min(b.tokens, float64(limit.Burst))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// bucketFor returns ip's bucket, making one if there is room. When the table is full it first
// forgets sources whose buckets have refilled (they are idle), then falls back to the shared
// overflow bucket. Callers hold r.mu.
func (r *Responder) bucketFor(ip netip.Addr, now time.Time, limit Limit) *bucket {
	if b, ok := r.buckets[ip]; ok {
		return b
	}
	maxSources := r.MaxSources
	if maxSources <= 0 {
		maxSources = DefaultMaxSources
	}
	if r.buckets == nil {
		r.buckets = make(map[netip.Addr]*bucket)
	}
	if len(r.buckets) >= maxSources && now.Sub(r.swept) >= time.Second {
		r.swept = now
		refill := time.Duration(float64(limit.Burst) / limit.Rate * float64(time.Second))
		for k, b := range r.buckets {
			if now.Sub(b.last) >= refill {
				delete(r.buckets, k)
			}
		}
	}
	if len(r.buckets) >= maxSources {
		if r.overflow.last.IsZero() {
			r.overflow = bucket{tokens: float64(limit.Burst), last: now}
		}
		return &r.overflow
	}
	b := &bucket{tokens: float64(limit.Burst), last: now}
	r.buckets[ip] = b
	return b
}
