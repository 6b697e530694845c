package transfer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/ratelimit"
)

// TestOfferLimit: the receiver takes 2 offers at once from a peer and calls it abusive
// after 2 refusals in a row. The flooder's 3rd offer is rejected with a reason, its 4th
// gets it disconnected; another peer's offer is accepted and completes.
func TestOfferLimit(t *testing.T) {
	flooder, honest, recv := newHost(t, nil), newHost(t, nil), newHost(t, nil)
	connect(t, flooder, recv)
	connect(t, honest, recv)
	lim := ratelimit.New[peer.ID](ratelimit.Config{Rate: 0.001, Burst: 2, CloseAfter: 2})
	rb := newSide(t, recv, func(c *Config) { c.OfferLimit = lim })
	fs := newSide(t, flooder, nil)
	dir := t.TempDir()
	offer := func(s *side, i int) (Info, error) {
		src := filepath.Join(dir, fmt.Sprintf("%s-%d.txt", s.h.ID().String(), i))
		writeFile(t, src, src, 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		return s.m.Send(ctx, recv.ID(), []string{src})
	}
	for i := range 2 {
		if _, err := offer(fs, i); err != nil {
			t.Fatalf("offer %d within the burst: %v", i, err)
		}
	}
	info, err := offer(fs, 2)
	if !errors.Is(err, ErrRejected) || !strings.Contains(info.Error, "too many offers") {
		t.Fatalf("offer over the limit: %s %q, %v; want rejected for too many offers", info.State, info.Error, err)
	}
	dropped := make(chan struct{}, 1)
	recv.Network().Notify(&network.NotifyBundle{DisconnectedF: func(_ network.Network, c network.Conn) {
		if c.RemotePeer() == flooder.ID() {
			select {
			case dropped <- struct{}{}:
			default:
			}
		}
	}})
	if _, err := offer(fs, 3); err == nil {
		t.Fatal("an offer past CloseAfter was answered")
	}
	select {
	case <-dropped:
	case <-time.After(waitLimit):
		t.Fatal("the abusive peer's connection was not closed")
	}
	got, err := offer(newSide(t, honest, nil), 0)
	if err != nil {
		t.Fatalf("honest offer while another peer floods: %v", err)
	}
	if final, err := rb.wait(got.ID); err != nil || final.State != StateCompleted {
		t.Fatalf("honest transfer: %s, %v", final.State, err)
	}
}
