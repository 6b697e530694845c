// Package ratelimit is a per-key token-bucket limiter with bounded memory, for slowing
// down a peer that floods a protocol while every other peer carries on.
//
// Each key (a peer ID) has a bucket of Burst tokens that refills at Rate tokens per
// second; every event takes one token. An event that finds the bucket empty is refused,
// and a key whose refusals reach CloseAfter before its bucket is full again (before it
// calmed down for Burst/Rate seconds) is reported as abusive, so the caller can drop its
// connection. Tokens trickling in during a flood do not wipe the count. At most MaxKeys buckets are kept:
// buckets idle for IdleAfter (which are full again by then) are forgotten first, then
// the least recently used one, so a flood of fresh keys cannot grow memory.
//
// A Limiter is safe for concurrent use. It starts no goroutines: expiry happens inside
// Allow, so there is nothing to stop.
//
// A Budget is the other half: one allowance (events and bytes per period) shared by all
// keys together, for what must stay bounded however many keys there are — peer IDs are
// free, so a per-key limit alone lets a crowd of fresh identities take any amount.
package ratelimit

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
)

// Config sets a Limiter's rates. The zero value of a field means its default.
type Config struct {
	Rate       float64          // tokens added per second; default 5
	Burst      int              // bucket size, the events allowed at once; default 20
	CloseAfter int              // refusals before the bucket refills that make a key abusive; default 4*Burst
	MaxKeys    int              // buckets kept at most; default 4096
	IdleAfter  time.Duration    // a bucket unused this long is forgotten; default long enough to refill
	Now        func() time.Time // the clock; default time.Now (a test hook)
}

func (c Config) withDefaults() Config {
	if c.Rate <= 0 {
		c.Rate = 5
	}
	if c.Burst <= 0 {
		c.Burst = 20
	}
	if c.CloseAfter <= 0 {
		c.CloseAfter = 4 * c.Burst
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 4096
	}
	if c.IdleAfter <= 0 {
		c.IdleAfter = time.Duration(float64(c.Burst)/c.Rate*float64(time.Second)) + time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Decision is the verdict on one event.
type Decision struct {
	Allowed bool
	Refused int  // refusals of this key since its bucket was last full, this one included (0 when allowed)
	Abusive bool // Refused reached CloseAfter: drop the key's connection
}

// FirstRefusal reports whether this is the first refusal of a run, the one worth a
// log line (the rest of the run is the same story).
func (d Decision) FirstRefusal() bool { return d.Refused == 1 }

type bucket[K comparable] struct {
	key     K
	tokens  float64
	last    time.Time // of the last refill
	refused int       // since the bucket was last full
}

// Limiter holds one token bucket per key.
type Limiter[K comparable] struct {
	cfg     Config
	refused atomic.Uint64

	mu    sync.Mutex
	byKey map[K]*list.Element // of *bucket[K]
	lru   *list.List          // front: most recently used
}

// New returns a Limiter with cfg's rates.
func New[K comparable](cfg Config) *Limiter[K] {
	return &Limiter[K]{cfg: cfg.withDefaults(), byKey: make(map[K]*list.Element), lru: list.New()}
}

// Allow takes one token from k's bucket and says whether the event may go ahead.
func (l *Limiter[K]) Allow(k K) Decision {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketFor(k, now)
	b.refill(now, l.cfg)
	if b.tokens >= 1 {
		b.tokens--
		return Decision{Allowed: true}
	}
	b.refused++
	l.refused.Add(1)
	return Decision{Refused: b.refused, Abusive: b.refused >= l.cfg.CloseAfter}
}

// Forget drops k's bucket (for example once its connection is closed).
func (l *Limiter[K]) Forget(k K) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.byKey[k]; ok {
		l.lru.Remove(e)
		delete(l.byKey, k)
	}
}

// Refused is how many events were refused since the Limiter was made, over all keys.
func (l *Limiter[K]) Refused() uint64 { return l.refused.Load() }

// Len is the number of buckets held.
func (l *Limiter[K]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byKey)
}

// bucketFor returns k's bucket, moved to the front, making room for a new one first.
func (l *Limiter[K]) bucketFor(k K, now time.Time) *bucket[K] {
	if e, ok := l.byKey[k]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*bucket[K])
	}
	l.expire(now)
	if l.lru.Len() >= l.cfg.MaxKeys {
		l.evict(l.lru.Back())
	}
	b := &bucket[K]{key: k, tokens: float64(l.cfg.Burst), last: now}
	l.byKey[k] = l.lru.PushFront(b)
	return b
}

// expire forgets the buckets, oldest first, that have been idle for IdleAfter.
func (l *Limiter[K]) expire(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		if now.Sub(e.Value.(*bucket[K]).last) < l.cfg.IdleAfter {
			return
		}
		l.evict(e)
	}
}

func (l *Limiter[K]) evict(e *list.Element) {
	l.lru.Remove(e)
	delete(l.byKey, e.Value.(*bucket[K]).key)
}

func (b *bucket[K]) refill(now time.Time, cfg Config) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(float64(cfg.Burst), b.tokens+elapsed.Seconds()*cfg.Rate)
		b.last = now
		if b.tokens == float64(cfg.Burst) {
			b.refused = 0 // it calmed down: a new start
		}
	}
}
