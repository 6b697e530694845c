package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestBudget(cfg BudgetConfig) (*Budget, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Now = c.now
	return NewBudget(cfg), c
}

// TestBudgetEventsThenRefusedThenRefilled: the budget admits Events events, refuses the
// next ones (counting the run), and takes one more per Period/Events of quiet.
func TestBudgetEventsThenRefusedThenRefilled(t *testing.T) {
	b, clock := newTestBudget(BudgetConfig{Events: 4, Bytes: 1 << 20, Period: time.Hour})
	for i := range 4 {
		if d := b.Take(10); !d.Allowed {
			t.Fatalf("event %d of 4 refused: %+v", i, d)
		}
	}
	for i := 1; i <= 3; i++ {
		d := b.Take(10)
		if d.Allowed || d.Refused != i || d.Abusive {
			t.Fatalf("event %d past the budget: %+v, want refusal number %d", 4+i, d, i)
		}
	}
	clock.advance(15 * time.Minute) // one event's worth at 4 an hour
	if d := b.Take(10); !d.Allowed {
		t.Fatalf("after a quarter hour: %+v", d)
	}
	if d := b.Take(10); d.Allowed || !d.FirstRefusal() {
		t.Fatalf("a second event on one refilled token: %+v, want a new first refusal", d)
	}
	clock.advance(48 * time.Hour)
	for i := range 4 {
		if d := b.Take(10); !d.Allowed {
			t.Fatalf("after a long quiet spell, event %d refused", i)
		}
	}
	if d := b.Take(10); d.Allowed {
		t.Fatal("a long quiet spell saved up more than one budget")
	}
	if got := b.Refused(); got != 5 {
		t.Errorf("Refused() = %d, want 5", got)
	}
}

// TestBudgetBytes: the byte budget binds as well: big events run it down while event
// tokens remain, a small one still fits in what is left, and an event larger than the
// whole budget is never admitted.
func TestBudgetBytes(t *testing.T) {
	b, clock := newTestBudget(BudgetConfig{Events: 100, Bytes: 1000, Period: time.Hour})
	for i := range 3 {
		if d := b.Take(300); !d.Allowed {
			t.Fatalf("300-byte event %d refused", i)
		}
	}
	if d := b.Take(300); d.Allowed {
		t.Fatal("a fourth 300-byte event fit in a 1000-byte budget")
	}
	if d := b.Take(100); !d.Allowed {
		t.Fatal("a 100-byte event did not fit in the 100 bytes left")
	}
	if ev, by := b.Remaining(); ev != 96 || by != 0 {
		t.Errorf("remaining %d events, %d bytes; want 96, 0", ev, by)
	}
	clock.advance(time.Hour)
	if d := b.Take(1001); d.Allowed {
		t.Fatal("an event larger than the whole byte budget was admitted")
	}
	if d := b.Take(1000); !d.Allowed {
		t.Fatal("a full budget refused an event of exactly its size")
	}
}

// TestBudgetRefund: what Take took for an event that was not used (a duplicate) comes
// back, never past the budget.
func TestBudgetRefund(t *testing.T) {
	b, _ := newTestBudget(BudgetConfig{Events: 2, Bytes: 100, Period: time.Hour})
	for range 10 {
		if d := b.Take(60); !d.Allowed {
			t.Fatal("a refunded event was not given back")
		}
		b.Refund(60)
	}
	b.Refund(60) // nothing taken: stays full
	if ev, by := b.Remaining(); ev != 2 || by != 100 {
		t.Errorf("after refunds, remaining %d events, %d bytes; want 2, 100", ev, by)
	}
}

// TestBudgetSharedByACrowd: many callers at once (fresh identities, say) share one
// budget: together they get exactly Events, however many they are.
func TestBudgetSharedByACrowd(t *testing.T) {
	const events, callers, each = 200, 30, 10
	b, _ := newTestBudget(BudgetConfig{Events: events, Bytes: 1 << 20, Period: time.Hour})
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range each {
				if b.Take(100).Allowed {
					admitted.Add(1)
				} else {
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d callers x %d events: %d admitted, %d refused", callers, each, admitted.Load(), refused.Load())
	if admitted.Load() != events || refused.Load() != callers*each-events {
		t.Errorf("%d admitted, %d refused; want %d, %d", admitted.Load(), refused.Load(), events, callers*each-events)
	}
}

func TestBudgetDefaults(t *testing.T) {
	b := NewBudget(BudgetConfig{})
	if ev, by := b.Remaining(); ev != DefaultBudgetEvents || by != DefaultBudgetBytes {
		t.Errorf("a zero config starts with %d events, %d bytes; want %d, %d", ev, by, DefaultBudgetEvents, DefaultBudgetBytes)
	}
}
