package rendezvous

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// Retry bounds of a Keeper whose registration failed.
const (
	keeperMinBackoff = 500 * time.Millisecond
	keeperMaxBackoff = 30 * time.Second

	// keeperKickSpacing is the least time between registrations prompted by a
	// dropped connection.
	keeperKickSpacing = time.Second
)

// KeeperStatus is what a Keeper last achieved.
type KeeperStatus struct {
	Registered    bool          // the last attempt succeeded
	TTL           time.Duration // granted by the last success
	At            time.Time     // of the last success
	Registrations uint64        // successful registrations so far
	Err           error         // of the last attempt, nil on success
}

// Keeper keeps a host registered in one namespace: it registers at once, again at
// half of every granted TTL, and, after a failure or when the connection to the
// server drops (a restarted server has forgotten us), retries with backoff. It owns one
// goroutine; Close stops it. Close does not unregister: call Client.Unregister for that.
type Keeper struct {
	c   *Client
	ns  string
	ttl time.Duration
	log *slog.Logger

	kick   chan struct{}
	notify *network.NotifyBundle

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu     sync.Mutex
	status KeeperStatus
}

// Keep starts a Keeper registering the host in ns with ttl (0: the server's default).
func (c *Client) Keep(ns string, ttl time.Duration, log *slog.Logger) *Keeper {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &Keeper{c: c, ns: ns, ttl: ttl, log: log, kick: make(chan struct{}, 1)}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	k.notify = &network.NotifyBundle{DisconnectedF: func(_ network.Network, conn network.Conn) {
		if conn.RemotePeer() == c.server.ID {
			k.poke()
		}
	}}
	c.host.Network().Notify(k.notify)
	k.wg.Add(1)
	go k.run()
	return k
}

// poke asks for a registration now; it never blocks.
func (k *Keeper) poke() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// Refresh registers again now, for example because the host's addresses changed (a
// node that learnt its outside address behind a NAT).
func (k *Keeper) Refresh() { k.poke() }

// Close stops the Keeper and waits for its goroutine. It is idempotent.
func (k *Keeper) Close() error {
	k.once.Do(func() {
		k.c.host.Network().StopNotify(k.notify)
		k.cancel()
		k.wg.Wait()
	})
	return nil
}

// Status reports the last attempt.
func (k *Keeper) Status() KeeperStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.status
}

func (k *Keeper) run() {
	defer k.wg.Done()
	backoff := keeperMinBackoff
	failed := false
	for {
		wait := k.attempt(failed)
		earliest := time.Now().Add(keeperKickSpacing)
		failed = wait == 0
		if failed {
			wait = backoff
			backoff = min(2*backoff, k.maxBackoff())
		} else {
			backoff = keeperMinBackoff
		}
		kicked, ok := k.sleep(wait, k.kick)
		if kicked {
			// A dropped connection asks for a registration now, but never more often
			// than keeperKickSpacing, whatever the server does with connections.
			_, ok = k.sleep(time.Until(earliest), nil)
		}
		if !ok {
			return
		}
	}
}

// sleep waits for d, a kick or the end of the Keeper; ok is false at the end.
func (k *Keeper) sleep(d time.Duration, kick <-chan struct{}) (kicked, ok bool) {
	if d <= 0 {
		return false, k.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-k.ctx.Done():
		return false, false
	case <-t.C:
		return false, true
	case <-kick:
		return true, true
	}
}

// maxBackoff keeps retries well inside the registration's lifetime.
func (k *Keeper) maxBackoff() time.Duration {
	if k.ttl > 0 && k.ttl/2 < keeperMaxBackoff {
		return max(k.ttl/2, keeperMinBackoff)
	}
	return keeperMaxBackoff
}

// attempt registers once and returns how long to wait before refreshing, or 0 if it
// failed. After a failure it dials afresh, past the swarm's dial backoff, so a server
// that came back is found at the next retry.
func (k *Keeper) attempt(afterFailure bool) time.Duration {
	ctx := k.ctx
	if afterFailure {
		ctx = network.WithForceDirectDial(ctx, "rendezvous: server may be back")
	}
	ttl, err := k.c.Register(ctx, k.ns, k.ttl)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status.Err = err
	k.status.Registered = err == nil
	if err != nil {
		if k.ctx.Err() == nil {
			k.log.Debug("rendezvous registration failed", "server", k.c.server.ID, "ns", k.ns, "err", err)
		}
		return 0
	}
	k.status.TTL, k.status.At = ttl, time.Now()
	k.status.Registrations++
	return max(ttl/2, time.Second)
}
