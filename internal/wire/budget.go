package wire

import "sync"

// Budget bounds the large reads (frames over SmallFrame) in flight: at most PerPeer at
// once from one peer, and at most Total bytes of their bodies overall. It never waits:
// a read that finds no place is refused (ErrBusy), and the peer may try again later.
// A nil *Budget has room for everything.
type Budget struct {
	perPeer int
	total   int64

	mu     sync.Mutex
	used   int64          // bytes of large frames in flight
	reads  map[string]int // large reads in flight, by peer
	nreads int
}

// NewBudget allows perPeer large reads at once from one peer and total bytes of them
// overall.
func NewBudget(perPeer int, total int64) *Budget {
	return &Budget{perPeer: perPeer, total: total, reads: map[string]int{}}
}

// BudgetStats is what a Budget holds now.
type BudgetStats struct {
	Reads int   // large reads in flight
	Bytes int64 // bytes they hold
}

// Stats reports what b holds now.
func (b *Budget) Stats() BudgetStats {
	if b == nil {
		return BudgetStats{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return BudgetStats{Reads: b.nreads, Bytes: b.used}
}

// start takes a place for a large read from peer, if it has one left.
func (b *Budget) start(peer string) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reads[peer] >= b.perPeer {
		return false
	}
	b.reads[peer]++
	b.nreads++
	return true
}

// add counts n more bytes of a large read, if they fit in the total.
func (b *Budget) add(n int) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+int64(n) > b.total {
		return false
	}
	b.used += int64(n)
	return true
}

// done gives back a large read's place and its bytes.
func (b *Budget) done(peer string, n int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= int64(n)
	b.nreads--
	if b.reads[peer]--; b.reads[peer] <= 0 {
		delete(b.reads, peer)
	}
}
