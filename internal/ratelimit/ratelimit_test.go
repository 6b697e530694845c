package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestLimiter(cfg Config) (*Limiter[string], *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Now = c.now
	return New[string](cfg), c
}

func TestBurstThenRefusedThenRefilled(t *testing.T) {
	l, clock := newTestLimiter(Config{Rate: 2, Burst: 3})
	for i := range 3 {
		if d := l.Allow("a"); !d.Allowed {
			t.Fatalf("event %d of the burst refused: %+v", i, d)
		}
	}
	d := l.Allow("a")
	if d.Allowed || !d.FirstRefusal() {
		t.Fatalf("event past the burst: %+v, want the first refusal", d)
	}
	clock.advance(500 * time.Millisecond) // one token at 2/s
	if d := l.Allow("a"); !d.Allowed {
		t.Fatalf("after refilling one token: %+v", d)
	}
	if d := l.Allow("a"); d.Allowed {
		t.Fatalf("second event on one refilled token allowed")
	}
	clock.advance(time.Hour)
	for i := range 3 {
		if d := l.Allow("a"); !d.Allowed {
			t.Fatalf("after a long pause the bucket holds only Burst: event %d refused", i)
		}
	}
	if d := l.Allow("a"); d.Allowed {
		t.Fatalf("a long pause filled the bucket past Burst")
	}
	if got := l.Refused(); got != 3 {
		t.Fatalf("Refused() = %d, want 3", got)
	}
}

func TestOneFlooderDoesNotSlowOthers(t *testing.T) {
	l, _ := newTestLimiter(Config{Rate: 1, Burst: 5})
	for range 1000 {
		l.Allow("flooder")
	}
	for _, k := range []string{"ann", "bob"} {
		for i := range 5 {
			if d := l.Allow(k); !d.Allowed {
				t.Fatalf("%s event %d refused while another key floods: %+v", k, i, d)
			}
		}
	}
}

func TestAbusiveAfterCloseAfterRefusals(t *testing.T) {
	l, clock := newTestLimiter(Config{Rate: 1, Burst: 2, CloseAfter: 3})
	l.Allow("x")
	l.Allow("x")
	for i := 1; i <= 2; i++ {
		if d := l.Allow("x"); d.Allowed || d.Refused != i || d.Abusive {
			t.Fatalf("refusal %d: %+v", i, d)
		}
	}
	clock.advance(time.Second) // one token trickles in during the flood
	if d := l.Allow("x"); !d.Allowed {
		t.Fatalf("after one token refilled: %+v", d)
	}
	if d := l.Allow("x"); d.Refused != 3 || !d.Abusive {
		t.Fatalf("a token in the middle of a flood must not wipe its refusals: %+v", d)
	}
	clock.advance(2 * time.Second) // the bucket is full again: it calmed down
	l.Allow("x")
	l.Allow("x")
	if d := l.Allow("x"); d.Refused != 1 || d.Abusive || !d.FirstRefusal() {
		t.Fatalf("after calming down the count starts again: %+v", d)
	}
}

func TestMemoryIsBounded(t *testing.T) {
	l, _ := newTestLimiter(Config{Rate: 1, Burst: 1, MaxKeys: 100})
	for i := range 10_000 {
		l.Allow(fmt.Sprint("peer", i))
	}
	if n := l.Len(); n != 100 {
		t.Fatalf("Len() = %d after 10000 keys, want the cap 100", n)
	}
	// The most recent key is kept, with its spent bucket.
	if d := l.Allow("peer9999"); d.Allowed {
		t.Fatalf("the most recently used key was evicted (its bucket is full again)")
	}
}

func TestIdleKeysExpire(t *testing.T) {
	l, clock := newTestLimiter(Config{Rate: 1, Burst: 2, IdleAfter: time.Minute})
	for i := range 50 {
		l.Allow(fmt.Sprint("old", i))
	}
	clock.advance(2 * time.Minute)
	l.Allow("new")
	if n := l.Len(); n != 1 {
		t.Fatalf("Len() = %d, want only the new key once the idle ones expired", n)
	}
}

func TestForget(t *testing.T) {
	l, _ := newTestLimiter(Config{Rate: 1, Burst: 1})
	l.Allow("x")
	if l.Allow("x").Allowed {
		t.Fatal("second event allowed on a bucket of 1")
	}
	l.Forget("x")
	if !l.Allow("x").Allowed {
		t.Fatal("a forgotten key must start with a full bucket")
	}
}

func TestConcurrentUse(t *testing.T) {
	l := New[int](Config{Rate: 1, Burst: 10, MaxKeys: 8})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				l.Allow((g * i) % 16)
			}
		})
	}
	wg.Wait()
	if l.Len() > 8 {
		t.Fatalf("Len() = %d over the cap", l.Len())
	}
}

func TestDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Rate != 5 || c.Burst != 20 || c.CloseAfter != 80 || c.MaxKeys != 4096 || c.IdleAfter <= 4*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}
