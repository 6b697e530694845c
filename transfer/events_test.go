package transfer

import (
	"path/filepath"
	"testing"
	"time"
)

// TestEvents: events of a transfer arrive in order (progress never goes back), progress
// is throttled to at most 5 per second, the rate shows while data moves, and the last
// event of each side is its final state with every byte counted.
func TestEvents(t *testing.T) {
	a, b := pair(t, func(c *Config) { c.ChunkSize = MinChunkSize; c.OpenSource = openSlow(5 * time.Millisecond) }, nil)
	src := filepath.Join(t.TempDir(), "f.bin")
	writeRandom(t, src, 8<<20)
	start := time.Now()
	info := a.send(b, src)
	if _, err := b.wait(info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.wait(info.ID); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	for name, s := range map[string]*side{"sender": a, "receiver": b} {
		// Wait returns on the state change; the event follows once the state is saved.
		waitFor(t, name+"'s final event", func() bool {
			events := s.eventsFor(info.ID)
			return len(events) > 0 && events[len(events)-1].State.Terminal()
		})
		events := s.eventsFor(info.ID)
		checkEvents(t, name, events, elapsed, info.TotalBytes)
	}
	if hashing := a.hashingEvents(); len(hashing) == 0 || hashing[0].State != StateHashing {
		t.Errorf("no hashing events before the offer: %+v", hashing)
	} else if info.Replaces != hashing[0].ID {
		t.Errorf("Info.Replaces = %q, want the provisional id %q", info.Replaces, hashing[0].ID)
	}
}

func checkEvents(t *testing.T, name string, events []Info, elapsed time.Duration, total int64) {
	t.Helper()
	var progress int
	var sawRate bool
	for i := 1; i < len(events); i++ {
		if events[i].DoneBytes < events[i-1].DoneBytes {
			t.Errorf("%s: progress went back from %d to %d", name, events[i-1].DoneBytes, events[i].DoneBytes)
		}
		if events[i].State == events[i-1].State {
			progress++
		}
		sawRate = sawRate || events[i].Rate > 0
	}
	if limit := int(5*elapsed.Seconds()) + 2; progress > limit {
		t.Errorf("%s: %d progress events in %v, over 5 per second", name, progress, elapsed)
	}
	last := events[len(events)-1]
	if last.State != StateCompleted || last.DoneBytes != total {
		t.Errorf("%s: last event %s with %d of %d bytes", name, last.State, last.DoneBytes, total)
	}
	if !sawRate && elapsed > time.Second {
		t.Errorf("%s: no event showed a rate during a %v transfer", name, elapsed)
	}
	t.Logf("%s: %d events, %d of them progress, in %v", name, len(events), progress, elapsed)
}

func (s *side) hashingEvents() []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Info
	for _, e := range s.events {
		if e.State == StateHashing {
			out = append(out, e)
		}
	}
	return out
}
