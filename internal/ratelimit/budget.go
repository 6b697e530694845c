package ratelimit

import (
	"sync"
	"sync/atomic"
	"time"
)

// Budget defaults: what a node lets all strangers together store in an hour.
const (
	DefaultBudgetEvents = 200
	DefaultBudgetBytes  = 1 << 20
	DefaultBudgetPeriod = time.Hour
)

// BudgetConfig sizes a Budget. The zero value of a field means its default.
type BudgetConfig struct {
	Events int              // events admitted per Period, and at most at once; default 200
	Bytes  int64            // bytes admitted per Period, and at most at once; default 1 MiB
	Period time.Duration    // how long an empty budget takes to fill again; default an hour
	Now    func() time.Time // the clock; default time.Now (a test hook)
}

func (c BudgetConfig) withDefaults() BudgetConfig {
	if c.Events <= 0 {
		c.Events = DefaultBudgetEvents
	}
	if c.Bytes <= 0 {
		c.Bytes = DefaultBudgetBytes
	}
	if c.Period <= 0 {
		c.Period = DefaultBudgetPeriod
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Budget is one allowance shared by every caller, whoever they are: two token buckets,
// one of events and one of bytes, each holding at most a Period's worth and refilling
// evenly over the Period. An event is admitted only when both buckets can pay for it;
// then it takes one event and its size in bytes. So however many keys (peer IDs, which
// are free) take from it, together they get at most Events and Bytes at once, and
// Events and Bytes per Period after that. An event larger than Bytes is never admitted.
//
// Unlike a Limiter, a Budget has no keys and so no memory to bound; it is safe for
// concurrent use and starts no goroutines.
type Budget struct {
	cfg     BudgetConfig
	refused atomic.Uint64

	mu     sync.Mutex
	events float64
	bytes  float64
	last   time.Time // of the last refill
	run    int       // refusals since the last admission
}

// NewBudget returns a full Budget.
func NewBudget(cfg BudgetConfig) *Budget {
	cfg = cfg.withDefaults()
	return &Budget{cfg: cfg, events: float64(cfg.Events), bytes: float64(cfg.Bytes), last: cfg.Now()}
}

// Take admits one event of size bytes if the budget can pay for it, taking one event
// and size bytes; else it takes nothing. A refusal's Refused counts the refusals since
// the budget last admitted an event, so FirstRefusal marks the start of a full spell.
// Abusive is never set: a budget judges nobody.
func (b *Budget) Take(size int64) Decision {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.events >= 1 && b.bytes >= float64(size) {
		b.events--
		b.bytes -= float64(size)
		b.run = 0
		return Decision{Allowed: true}
	}
	b.run++
	b.refused.Add(1)
	return Decision{Refused: b.run}
}

// Refund gives back an event of size bytes that Take admitted but that was not used
// (a duplicate that stored nothing), never filling the budget past its size.
func (b *Budget) Refund(size int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	b.events = min(float64(b.cfg.Events), b.events+1)
	b.bytes = min(float64(b.cfg.Bytes), b.bytes+float64(size))
}

// Remaining is what the budget could admit now: whole events and bytes.
func (b *Budget) Remaining() (events int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	return int(b.events), int64(b.bytes)
}

// Refused is how many events were refused since the Budget was made.
func (b *Budget) Refused() uint64 { return b.refused.Load() }

// refill adds what the time since the last refill earned; the caller holds b.mu.
func (b *Budget) refill() {
	now := b.cfg.Now()
	elapsed := now.Sub(b.last)
	if elapsed <= 0 {
		return
	}
	share := elapsed.Seconds() / b.cfg.Period.Seconds()
	b.events = min(float64(b.cfg.Events), b.events+share*float64(b.cfg.Events))
	b.bytes = min(float64(b.cfg.Bytes), b.bytes+share*float64(b.cfg.Bytes))
	b.last = now
}
