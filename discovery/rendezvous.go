package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/rendezvous"
)

// Defaults of the rendezvous source.
const (
	DefaultNamespace      = "parley"
	DefaultRendezvousTTL  = 60 * time.Second // short: the server is a presence list
	DefaultDiscoverPeriod = 5 * time.Second
	discoverPage          = 200
	rendezvousProtectTag  = "parley-rendezvous"
)

// ViaRendezvous marks peers found through a rendezvous server.
const ViaRendezvous = "rendezvous"

// RendezvousConfig configures the rendezvous source.
type RendezvousConfig struct {
	Host      host.Host
	Servers   []peer.AddrInfo
	Namespace string        // default DefaultNamespace; separate teams use separate ones
	TTL       time.Duration // default DefaultRendezvousTTL
	Period    time.Duration // how often each server is asked for news; default DefaultDiscoverPeriod
	Found     func(Peer)    // called for every peer found (never self); must not block long
	Logger    *slog.Logger
}

// Rendezvous registers this node with rendezvous servers and discovers the others
// registered in the same namespace. While a server is down it keeps retrying, and other
// sources (mDNS) are unaffected; when the server comes back the keeper registers again.
type Rendezvous struct {
	cfg     RendezvousConfig
	keepers []*rendezvous.Keeper
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// NewRendezvous checks cfg; Start begins registering and discovering.
func NewRendezvous(cfg RendezvousConfig) (*Rendezvous, error) {
	if cfg.Host == nil || cfg.Found == nil || len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("rendezvous: a host, servers and a Found callback are required")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultRendezvousTTL
	}
	if cfg.Period == 0 {
		cfg.Period = DefaultDiscoverPeriod
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Rendezvous{cfg: cfg}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// Start registers with every server and starts one discovery loop per server.
func (r *Rendezvous) Start() error {
	for _, s := range r.cfg.Servers {
		r.cfg.Host.Peerstore().AddAddrs(s.ID, s.Addrs, time.Hour*24*365)
		r.cfg.Host.ConnManager().Protect(s.ID, rendezvousProtectTag)
		c := rendezvous.NewClient(r.cfg.Host, s)
		r.keepers = append(r.keepers, c.Keep(r.cfg.Namespace, r.cfg.TTL, r.cfg.Logger.With("server", s.ID)))
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.discoverLoop(c)
		}()
	}
	return nil
}

// Refresh registers again with every server now: the host's addresses changed.
func (r *Rendezvous) Refresh() {
	for _, k := range r.keepers {
		k.Refresh()
	}
}

// Close stops registering and discovering and waits for every goroutine. It does not
// unregister: the registration lapses after its TTL, and a node stopped by kill -9
// could not unregister anyway.
func (r *Rendezvous) Close() error {
	r.once.Do(func() {
		r.cancel()
		for _, k := range r.keepers {
			k.Close()
		}
		r.wg.Wait()
	})
	return nil
}

// discoverLoop polls one server: with the cookie of the last answer it gets only what
// is new or refreshed since, so polling often costs little.
func (r *Rendezvous) discoverLoop(c *rendezvous.Client) {
	var cookie []byte
	t := time.NewTicker(r.cfg.Period)
	defer t.Stop()
	for {
		cookie = r.discoverAll(c, cookie)
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// discoverAll pages through the server's news and reports each peer; it returns the
// cookie to continue from (the old one if the server could not be asked).
func (r *Rendezvous) discoverAll(c *rendezvous.Client, cookie []byte) []byte {
	for range 50 { // bounded: 50 pages of 200 peers per round
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		peers, next, err := c.Discover(ctx, r.cfg.Namespace, discoverPage, cookie)
		cancel()
		if err != nil {
			r.cfg.Logger.Debug("rendezvous discover failed", "server", c.Server().ID, "err", err)
			return cookie
		}
		r.report(peers, c.LoopbackServer())
		cookie = next
		if len(peers) == 0 {
			return cookie
		}
	}
	return cookie
}

// report hands on the peers found, without the addresses no peer should dial: a record is
// signed by its peer, who can still put any address in it (see rendezvous.RecordAddrs).
func (r *Rendezvous) report(peers []peer.AddrInfo, loopbackServer bool) {
	for _, ai := range peers {
		if ai.ID != r.cfg.Host.ID() {
			r.cfg.Found(Peer{ID: ai.ID, Addrs: rendezvous.RecordAddrs(ai.Addrs, loopbackServer), Via: ViaRendezvous})
		}
	}
}
