package transfer

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCloseStopsEverything: Close in the middle of a transfer (pullers, stream
// handlers, runners waiting out a backoff) returns once every goroutine of the
// package has ended; a second Close is a no-op; the API refuses work afterwards.
func TestCloseStopsEverything(t *testing.T) {
	a, b := pair(t, func(c *Config) { c.OpenSource = openSlow(10 * time.Millisecond); c.ChunkSize = MinChunkSize }, nil)
	src := filepath.Join(t.TempDir(), "f.bin")
	writeRandom(t, src, 8<<20)
	info := a.send(b, src)
	waitFor(t, "data to flow", func() bool { return mustGet(t, b, info.ID).DoneBytes > 0 })
	if err := b.m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Close waits for its own goroutines; libp2p may still be handing the handler a
	// stream it negotiated just before, which the handler refuses at once.
	var stacks string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if stacks = ourGoroutines(); stacks == "" {
			break
		}
	}
	if stacks != "" {
		t.Fatalf("goroutines of package transfer still running after Close:\n%s", stacks)
	}
	if _, err := a.m.Send(context.Background(), b.h.ID(), []string{src}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if _, err := a.m.Wait(context.Background(), info.ID); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close: %v", err)
	}
}

// ourGoroutines returns the stacks of goroutines running this package's code, other
// than tests.
func ourGoroutines() string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "parley/transfer.(*") && !strings.Contains(g, "testing.tRunner") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
