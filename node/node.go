package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/crypto"
	"github.com/parley-im/parley/discovery"
	"github.com/parley-im/parley/node/dm"
	"github.com/parley-im/parley/room"
	"github.com/parley-im/parley/transfer"
)

// Errors callers branch on.
var (
	ErrUnknownPeer   = api.ErrUnknownPeer
	ErrAmbiguousPeer = api.ErrAmbiguousPeer
	ErrBadMessage    = api.ErrBadRequest
	ErrBlocked       = api.ErrBlocked
)

// protectTag marks connections the connection manager must never trim: those of
// contacts and of peers the user wrote to (strangers.go), never strangers'.
const protectTag = "parley-conversation"

// Config is what a node needs to start. The zero value of every optional field works.
type Config struct {
	Home        string           // home directory: archive.db lives here
	Identity    *crypto.Identity // required
	ListenAddrs []string         // empty: TCP+QUIC on DefaultPort, or a free port if taken
	StaticPeers []string         // full /p2p/ multiaddrs to connect to and keep connected
	MDNS        bool             // advertise and browse by mDNS on every interface
	Rendezvous  []string         // rendezvous servers (full /p2p/ multiaddrs) to register with and discover through
	Namespace   string           // rendezvous namespace; default "parley"
	STUN        string           // STUN server host:port; empty: the first rendezvous server's, port 3478; "off": none
	NetworkKey  []byte           // private-network key (libp2p PSK, 32 bytes); set: TCP only, and only peers with the key connect
	AwayAfter   time.Duration    // idle time before presence turns away by itself; 0 = never
	Retain      time.Duration    // purge messages older than this, hourly; 0 = keep everything
	OnMessage   string           // shell command run for every incoming message (sh -c)
	MessageRate float64          // direct messages per second one peer may send; 0: DefaultMessageRate; < 0: no limit (nor a strangers' share)
	ForgetAfter time.Duration    // an mDNS-announced peer that never speaks Parley is forgotten this long after; 0: DefaultForgetAfter
	Transfers   TransferConfig   // file transfers
	Mailbox     MailboxConfig    // keeping mail for others, and where our own is kept
	Logger      *slog.Logger     // nil: discard
	// RoomClock stamps this node's room messages; nil: time.Now. Only tests set it
	// (daemon's PARLEY_TEST_CLOCK_OFFSET), to play a member whose clock is wrong.
	RoomClock func() time.Time
}

// Node is a running Parley node. Close stops it.
type Node struct {
	cfg         Config
	log         *slog.Logger
	host        host.Host
	connMgr     *connmgr.BasicConnMgr
	dm          *dm.Service
	transfers   *transfer.Manager
	mail        *mailState
	store       *archive.Store
	peers       *peerTable
	events      *bus
	sources     []discovery.Source
	fingerprint string
	startedAt   time.Time

	ctx    context.Context
	cancel context.CancelFunc
	runMu  sync.Mutex // orders goRun's wg.Add before Close's cancel
	wg     sync.WaitGroup

	dialMu     sync.Mutex
	dialing    map[peer.ID]bool
	flushing   map[peer.ID]bool // peers whose message queue is being sent
	flushAgain map[peer.ID]bool // ...and asked to be sent once more when that ends

	nat     natState
	natNext atomic.Int64 // nanoseconds until the next NAT refresh

	me       ownPresence
	blocked  *blockList
	contacts contactBook
	hooks    *messageHook
	limits   peerLimits
	wroteTo  peerSet     // peers the user sent a message or files to: known, not strangers
	memory   *addrMemory // addresses of peers met, dialed again at start (remember.go)

	roomEngine *room.Engine
	roomMu     sync.Mutex // serialises changes to rooms: engine state and archive together

	closeOnce sync.Once
	closeErr  error
}

// New starts a node: archive, contacts, host, protocols, discovery.
func New(cfg Config) (*Node, error) {
	if cfg.Identity == nil {
		return nil, errors.New("node: no identity")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fp, err := crypto.Fingerprint(cfg.Identity.Key.GetPublic())
	if err != nil {
		return nil, err
	}
	store, err := archive.Open(filepath.Join(cfg.Home, "archive.db"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg: cfg, log: log, store: store, peers: newPeerTable(), events: newBus(), fingerprint: fp,
		startedAt: time.Now(), ctx: ctx, cancel: cancel, dialing: make(map[peer.ID]bool),
		flushing: make(map[peer.ID]bool), flushAgain: make(map[peer.ID]bool), blocked: &blockList{},
		hooks:  newMessageHook(cfg.OnMessage, cfg.Home, log.With("part", "on-message")),
		limits: newPeerLimits(cfg.MessageRate),
	}
	if cfg.ForgetAfter > 0 {
		n.peers.forgetAfter = cfg.ForgetAfter
	}
	n.peers.keep = func(id peer.ID) bool { _, ok := n.contacts.get(id); return ok }
	n.me.presence, n.me.lastTouch = api.PresenceOnline, time.Now()
	n.me.bump()
	if err := n.loadContacts(ctx); err != nil { // the block list must be in place before the host listens
		cancel()
		store.Close()
		return nil, err
	}
	if n.host, n.connMgr, err = newHost(cfg.Identity.Key, cfg.ListenAddrs, cfg.NetworkKey, gater{n.blocked}, n.addrsFactory); err != nil {
		cancel()
		store.Close()
		return nil, err
	}
	if err := n.loadKnown(ctx); err != nil { // before messages arrive: strangers are told apart by it
		n.host.Close()
		cancel()
		store.Close()
		return nil, err
	}
	if err := n.initMailbox(); err != nil { // before the profile handler, which publishes its key
		n.host.Close()
		cancel()
		store.Close()
		return nil, err
	}
	n.dm = dm.New(n.host, n, log.With("proto", "dm"), n.limits.dmOptions()...)
	n.host.SetStreamHandler(ProfileProtocol, n.serveProfile)
	n.host.SetStreamHandler(PresenceProtocol, n.receivePresence)
	n.host.SetStreamHandler(PunchProtocol, n.servePunch)
	if n.cfg.Transfers.Downloads == "" {
		n.cfg.Transfers.Downloads = filepath.Join(cfg.Home, "downloads")
	}
	if err := n.startTransfers(filepath.Join(cfg.Home, "transfers")); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.start(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) start() error {
	// Before identify events, which add to it.
	n.loadAddrMemory()
	if err := n.startRooms(); err != nil { // before peers connect: they are told about rooms
		return err
	}
	if err := n.startMailbox(); err != nil { // before peers are identified: mailboxes among them are fetched from
		return err
	}
	n.host.Network().Notify(&network.NotifyBundle{
		// A peer counts as online once identify has run on a connection (watchIdentify),
		// not when the connection appears: a peer that blocks us closes the connection
		// from its gater right after the handshake, and must not flash online here.
		DisconnectedF: func(_ network.Network, c network.Conn) { n.onConnChange(c.RemotePeer()) },
	})
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return fmt.Errorf("subscribe to identify events: %w", err)
	}
	n.goRun(func() { n.watchIdentify(sub) })
	n.goRun(func() { n.every(livenessEvery, n.checkLiveness) })
	n.goRun(func() { n.every(queueRetryEvery, n.retryQueues) })
	n.goRun(func() { n.every(forgetEvery(n.peers.forgetAfter), n.forgetSilent) })
	if n.cfg.AwayAfter > 0 {
		n.goRun(func() { n.every(n.idleCheckEvery(), n.checkIdle) })
	}
	if n.cfg.Retain > 0 {
		n.goRun(func() { n.purgeOld(); n.every(retentionEvery, n.purgeOld) })
	}
	n.goRun(func() { n.pruneOutbox(); n.every(outboxEvery, n.pruneOutbox) })
	if n.hooks != nil {
		n.goRun(func() { n.hooks.run(n.ctx) })
	}
	if err := n.startStaticPeers(); err != nil {
		return err
	}
	n.startAddrMemory()
	if n.cfg.MDNS {
		if err := n.startMDNS(); err != nil {
			return err
		}
	}
	return n.startRendezvous()
}

// startRendezvous registers with the --rendezvous servers and discovers through them.
func (n *Node) startRendezvous() error {
	if len(n.cfg.Rendezvous) == 0 {
		return nil
	}
	var servers []peer.AddrInfo
	for _, s := range n.cfg.Rendezvous {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return fmt.Errorf("--rendezvous %q: %w: give the full address the server printed, ending in /p2p/PEERID", s, err)
		}
		servers = append(servers, *ai)
	}
	r, err := discovery.NewRendezvous(discovery.RendezvousConfig{
		Host: n.host, Servers: servers, Namespace: n.cfg.Namespace,
		Found: n.onDiscovered, Logger: n.log.With("discovery", "rendezvous"),
	})
	if err != nil {
		return err
	}
	if err := r.Start(); err != nil {
		return err
	}
	n.sources = append(n.sources, r)
	var stunServer string
	if all := n.stunServers(); len(all) > 0 {
		stunServer = all[0]
	}
	n.goRun(func() { n.watchNAT(servers, stunServer, r.Refresh) })
	return nil
}

// goRun runs f on a goroutine that Close waits for.
func (n *Node) goRun(f func()) {
	n.runMu.Lock()
	defer n.runMu.Unlock()
	if n.ctx.Err() != nil {
		return // closing: Close may already be waiting for the others
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

func (n *Node) startMDNS() error {
	m, err := discovery.NewMDNS(discovery.MDNSConfig{
		Self:   n.host.ID(),
		Name:   n.cfg.Identity.Name,
		Addrs:  n.lanAddrs,
		Found:  n.onDiscovered,
		Logger: n.log.With("discovery", "mdns"),
	})
	if err != nil {
		return fmt.Errorf("mdns: %w", err)
	}
	if err := m.Start(); err != nil {
		return fmt.Errorf("start mdns (use --no-mdns to run without it): %w", err)
	}
	n.sources = append(n.sources, m)
	return nil
}

// lanAddrs are the listen addresses worth telling the LAN: loopback ones would make a
// peer on another machine dial itself.
func (n *Node) lanAddrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range n.host.Addrs() {
		if !manet.IsIPLoopback(a) {
			out = append(out, a)
		}
	}
	return out
}

// onDiscovered is called by discovery sources; it must not block, so dials happen on
// their own goroutines. A peer only announced by mDNS is dialled but not listed until it
// speaks Parley; one the table refuses (forgotten, or no room) is not dialled either.
func (n *Node) onDiscovered(p discovery.Peer) {
	if p.ID == n.host.ID() {
		return
	}
	before, known := n.peers.get(p.ID)
	changed := n.peers.observe(p.ID, p.Name, p.Via, p.Addrs, time.Now())
	after, ok := n.peers.get(p.ID)
	if !ok {
		return
	}
	n.host.Peerstore().AddAddrs(p.ID, p.Addrs, 2*time.Minute)
	switch {
	case !after.person():
		if !known {
			n.log.Debug("announced by "+p.Via+"; listed once it speaks Parley", "peer", p.ID.String(), "name", p.Name)
		}
	case changed || before.via != p.Via:
		if !known || before.via != p.Via {
			n.log.Info("found peer", "via", p.Via, "name", p.Name, "peer", p.ID.String())
		}
		n.publishPeer(p.ID)
	}
	if after.person() && p.Name != before.name {
		n.checkImpersonation(p.ID, p.Name)
	}
	n.dialAsync(p.ID)
}

// forgetEvery is how often the peer table is swept for peers to forget.
func forgetEvery(after time.Duration) time.Duration {
	return min(max(after/4, 100*time.Millisecond), 30*time.Second)
}

// forgetSilent forgets the mDNS-announced peers that never spoke Parley (see peerTable.forget)
// and the addresses they announced, unless they are connected.
func (n *Node) forgetSilent() {
	for _, id := range n.peers.forget(time.Now()) {
		n.log.Debug("mdns: forgot "+id.String()+", announced but never spoke Parley", "after", n.peers.forgetAfter)
		if n.host.Network().Connectedness(id) != network.Connected {
			n.host.Peerstore().ClearAddrs(id)
		}
	}
}

// dialAsync connects to id in the background unless connected or already dialing.
func (n *Node) dialAsync(id peer.ID) {
	if n.host.Network().Connectedness(id) == network.Connected { // a relayed one is worth replacing
		return
	}
	n.dialMu.Lock()
	if n.dialing[id] || n.ctx.Err() != nil {
		n.dialMu.Unlock()
		return
	}
	n.dialing[id] = true
	n.dialMu.Unlock()
	n.goRun(func() {
		defer func() {
			n.dialMu.Lock()
			delete(n.dialing, id)
			n.dialMu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		defer cancel()
		if err := n.host.Connect(ctx, peer.AddrInfo{ID: id}); err != nil {
			n.log.Debug("dial failed", "peer", id, "err", err)
		}
	})
}

// startStaticPeers parses --peer addresses and keeps them connected.
func (n *Node) startStaticPeers() error {
	var infos []peer.AddrInfo
	for _, s := range n.cfg.StaticPeers {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return fmt.Errorf("--peer %q: %w: give a full address ending in /p2p/PEERID", s, err)
		}
		infos = append(infos, *ai)
	}
	if len(infos) == 0 {
		return nil
	}
	n.goRun(func() { n.keepConnected(infos) })
	return nil
}

func (n *Node) keepConnected(infos []peer.AddrInfo) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		for _, ai := range infos {
			n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
			if n.peers.observe(ai.ID, "", ViaStatic, ai.Addrs, time.Now()) {
				n.publishPeer(ai.ID)
			}
			n.dialAsync(ai.ID)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchIdentify adds peers that connected to us and speak our protocol.
func (n *Node) watchIdentify(sub event.Subscription) {
	defer sub.Close()
	for {
		select {
		case <-n.ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			ev := e.(event.EvtPeerIdentificationCompleted)
			n.onMailboxPeer(ev.Peer)
			if !n.speaksParley(ev.Peer) {
				continue
			}
			if n.memory != nil {
				n.memory.note(ev.Peer, metAddrs(ev), time.Now())
			}
			before, known := n.peers.get(ev.Peer)
			if n.peers.observe(ev.Peer, "", ViaInbound, nil, time.Now()) {
				n.publishPeer(ev.Peer)
				if e, _ := n.peers.get(ev.Peer); known && !before.person() && e.name != "" {
					n.checkImpersonation(ev.Peer, e.name) // its mDNS name counts now that it is listed
				}
			}
			n.onConnChange(ev.Peer)
			n.goRun(func() { n.fetchProfile(ev.Peer) })
			n.maybePunch(ev.Peer)
			n.onRoomPeer(ev.Peer)
		}
	}
}

func (n *Node) speaksParley(id peer.ID) bool {
	protos, err := n.host.Peerstore().SupportsProtocols(id, dm.ProtocolID)
	return err == nil && len(protos) > 0
}

// onConnChange runs on libp2p's notification goroutines: it logs and publishes a peer's
// transitions between online and offline.
func (n *Node) onConnChange(id peer.ID) {
	online := n.reachable(id)
	changed, known := n.peers.setOnline(id, online)
	if !known || !changed {
		return
	}
	if online {
		n.log.Info("peer online", "peer", n.displayName(id))
		n.flushAsync(id)
	} else {
		n.log.Info("peer offline", "peer", n.displayName(id))
	}
	n.publishPeer(id)
}

func (n *Node) publishPeer(id peer.ID) {
	e, ok := n.peers.get(id)
	if !ok || !e.person() {
		return
	}
	p := n.apiPeer(e)
	n.events.publish(api.Event{Type: api.EventPeer, Time: time.Now(), Peer: &p})
}

func (n *Node) apiPeer(e peerEntry) api.Peer {
	p := api.Peer{
		PeerID: e.id.String(), Name: e.name, Via: e.via, Presence: api.PresenceOffline,
		LastSeen: e.lastSeen, Addrs: addrStrings(e.addrs), Warning: n.peerWarning(e.id, e.name),
		DisplayName: n.nameOf(e.id.String()),
	}
	conns := n.host.Network().ConnsToPeer(e.id)
	if e.presence == api.PresenceOffline {
		conns = nil // invisible: it looks offline in every respect
	}
	if len(conns) > 0 {
		p.Connected, p.Presence, p.Status, p.Relayed = true, shownPresence(e.presence), e.status, true
		p.Addrs = nil
		for _, c := range conns {
			p.Relayed = p.Relayed && c.Stat().Limited
			p.Addrs = append(p.Addrs, c.RemoteMultiaddr().String())
		}
	}
	return p
}

// shownPresence is a connected peer's presence: what it announced, online until it has.
func shownPresence(announced string) string {
	if announced == "" {
		return api.PresenceOnline
	}
	return announced
}

func addrStrings(addrs []ma.Multiaddr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// ID is this node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Status describes this node.
func (n *Node) Status() api.Status {
	var addrs []string
	for _, a := range n.host.Addrs() {
		addrs = append(addrs, a.String()+"/p2p/"+n.host.ID().String())
	}
	return api.Status{
		PeerID: n.host.ID().String(), Name: n.cfg.Identity.Name, Fingerprint: n.fingerprint,
		Addrs: addrs, Home: n.cfg.Home, Version: api.Version, StartedAt: n.startedAt,
		STUN: n.stunServers(),
	}
}

// Peers lists every known person with its presence: not the peers only announced by mDNS
// that never spoke Parley.
func (n *Node) Peers() []api.Peer {
	entries := n.peers.people()
	out := make([]api.Peer, len(entries))
	for i, e := range entries {
		out[i] = n.apiPeer(e)
	}
	return out
}

// Subscribe returns the live event stream and a function that ends it.
func (n *Node) Subscribe(buffer int) (<-chan api.Event, func()) {
	return n.events.subscribe(buffer)
}

// Close stops discovery, the host and the archive, and waits for every goroutine.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.runMu.Lock()
		n.cancel()
		n.runMu.Unlock()
		var errs []error
		for _, s := range n.sources {
			errs = append(errs, s.Close())
		}
		n.dm.Close()
		if n.roomEngine != nil {
			errs = append(errs, n.roomEngine.Close())
		}
		if n.transfers != nil {
			errs = append(errs, n.transfers.Close())
		}
		errs = append(errs, n.closeMailbox())
		if n.host != nil {
			errs = append(errs, n.host.Close())
		}
		n.wg.Wait()
		n.saveAddrMemory()
		errs = append(errs, n.store.Close())
		n.events.closeAll()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// newMessageID returns 128 random bits in hex.
func newMessageID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
