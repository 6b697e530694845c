package node

import (
	"sync"
	"sync/atomic"

	"github.com/parley-im/parley/api"
)

// bus fans events out to subscribers without ever blocking the publisher: a
// subscriber that falls behind by more than its buffer loses events and is told so by
// the Dropped counter.
type bus struct {
	mu      sync.Mutex
	subs    map[*subscription]struct{}
	dropped atomic.Uint64
}

type subscription struct {
	ch chan api.Event
}

func newBus() *bus {
	return &bus{subs: make(map[*subscription]struct{})}
}

// subscribe returns a channel of events and a function that ends the subscription and
// closes the channel.
func (b *bus) subscribe(buffer int) (<-chan api.Event, func()) {
	s := &subscription{ch: make(chan api.Event, buffer)}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s.ch, func() { b.unsubscribe(s) }
}

func (b *bus) unsubscribe(s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}

func (b *bus) publish(e api.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.ch <- e:
		default:
			b.dropped.Add(1)
		}
	}
}

// closeAll ends every subscription, so event-stream clients see the node stop.
func (b *bus) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		delete(b.subs, s)
		close(s.ch)
	}
}
