package node

import (
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/mailbox"
	"github.com/parley-im/parley/room"
)

// MailboxConfig is how a node keeps mail for others and where it fetches its own.
type MailboxConfig struct {
	Serve  bool           // keep sealed mail for others in HOME/mailbox (`up --mailbox`)
	TTL    time.Duration  // how long mail is kept when its depositor asks for nothing; 0: mailbox.DefaultTTL
	Quotas mailbox.Quotas // the zero value of a field: the package's default
	// Peers are full /p2p/ addresses of mailboxes to fetch from (--mailbox-peer), beside
	// those found on the LAN (any connected peer that serves mailbox.ProtocolID).
	Peers []string
}

// Mailbox timing and sizes.
const (
	mailFetchEvery = time.Minute // own mailboxes are fetched this often, and whenever one connects
	mailTimeout    = 30 * time.Second
	maxMailboxes   = 3 // a sender deposits at up to this many of the recipient's mailboxes
	// maxOwnMailboxes bounds the mailboxes a node fetches from: --mailbox-peer ones
	// first, then the first found on the LAN.
	maxOwnMailboxes = 8
	// MailboxRate and MailboxBurst are the mailbox server's per-peer request rate: a
	// deposit is one request (a sender back from a day's queue deposits a burst), a fetch
	// of n envelopes 2·⌈n/100⌉, so a burst of 200 takes 10,000 at once.
	MailboxRate  = 20
	MailboxBurst = 200
)

// MailboxDir is where `up --mailbox` keeps others' mail, under the home.
const MailboxDir = "mailbox"

// peerMail is what a peer published about its mail: the key to seal to, and the
// mailboxes it fetches from.
type peerMail struct {
	binding mailbox.KeyBinding
	boxes   []peer.AddrInfo
}

// mailState is the node's side of mailboxes. It is safe for concurrent use.
type mailState struct {
	key    *mailbox.Key
	client *mailbox.Client
	server *mailbox.Server // nil unless cfg.Mailbox.Serve

	holdMu sync.Mutex // serialises holdQueued

	mu       sync.Mutex
	own      []peer.ID // the mailboxes we fetch from, in the order found
	peers    map[peer.ID]peerMail
	fetching map[peer.ID]bool
}

func (s *mailState) addOwn(id peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.own, id) || len(s.own) >= maxOwnMailboxes {
		return false // a LAN full of mailboxes does not make us dial them all
	}
	s.own = append(s.own, id)
	return true
}

func (s *mailState) ownBoxes() []peer.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.own)
}

func (s *mailState) of(id peer.ID) (peerMail, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pm, ok := s.peers[id]
	return pm, ok
}

func (s *mailState) set(id peer.ID, pm peerMail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peers[id] = pm
}

// startFetch reports whether a fetch from box may start (none is running).
func (s *mailState) startFetch(box peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fetching[box] {
		return false
	}
	s.fetching[box] = true
	return true
}

func (s *mailState) endFetch(box peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.fetching, box)
}

// initMailbox derives the mailbox key and loads what peers published, before any
// protocol handler runs (the profile handler publishes the key).
func (n *Node) initMailbox() error {
	key, err := mailbox.DeriveKey(n.cfg.Identity.Key)
	if err != nil {
		return fmt.Errorf("derive the mailbox key: %w", err)
	}
	n.mail = &mailState{
		key: key, client: &mailbox.Client{Host: n.host, Frames: n.limits.contactFrames},
		peers: map[peer.ID]peerMail{}, fetching: map[peer.ID]bool{},
	}
	for _, s := range n.cfg.Mailbox.Peers {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return fmt.Errorf("--mailbox-peer %q: %w: give the mailbox's full address, ending in /p2p/PEERID", s, err)
		}
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, 24*time.Hour)
		n.mail.addOwn(ai.ID)
	}
	return n.loadPeerMail()
}

// startMailbox opens the server if asked and starts fetching from our mailboxes.
func (n *Node) startMailbox() error {
	if n.cfg.Mailbox.Serve {
		if err := n.serveMailbox(); err != nil {
			return err
		}
	}
	n.goRun(func() { n.fetchAllMail(); n.every(mailFetchEvery, n.fetchAllMail) })
	return nil
}

func (n *Node) serveMailbox() error {
	s, err := mailbox.NewServer(mailbox.Config{
		Host: n.host, Dir: filepath.Join(n.cfg.Home, MailboxDir), TTL: n.cfg.Mailbox.TTL, Quotas: n.cfg.Mailbox.Quotas,
		IsContact: n.contacts.isContact, IsKnownRoom: n.isKnownRoom,
		Accept:      func(depositor peer.ID, _ mailbox.Address) bool { return !n.isBlocked(depositor) },
		Limit:       ratelimit.New[peer.ID](ratelimit.Config{Rate: MailboxRate, Burst: MailboxBurst}),
		FrameBudget: n.frameBudget, Logger: n.log.With("part", "mailbox"),
	})
	if err != nil {
		return fmt.Errorf("keep mail for others (--mailbox): %w", err)
	}
	n.mail.server = s
	n.log.Info("keeping sealed mail for others", "dir", filepath.Join(n.cfg.Home, MailboxDir))
	return nil
}

// isKnownRoom reports whether we are a member of the room with this ID (its bytes).
func (n *Node) isKnownRoom(roomID []byte) bool {
	var id room.ID
	if n.roomEngine == nil || len(roomID) != len(id) {
		return false
	}
	copy(id[:], roomID)
	_, ok := n.roomEngine.Room(id)
	return ok
}

// closeMailbox closes the mailbox server, if the node runs one.
func (n *Node) closeMailbox() error {
	if n.mail == nil || n.mail.server == nil {
		return nil
	}
	return n.mail.server.Close()
}

// MailboxServer is the mailbox the node keeps for others, or nil.
func (n *Node) MailboxServer() *mailbox.Server {
	if n.mail == nil {
		return nil
	}
	return n.mail.server
}

// onMailboxPeer is called when identify finishes with a peer: one that serves mailboxes
// becomes one of ours (published in the profile), and its mail for us is fetched.
func (n *Node) onMailboxPeer(id peer.ID) {
	if n.mail == nil || id == n.host.ID() {
		return
	}
	protos, err := n.host.Peerstore().SupportsProtocols(id, mailbox.ProtocolID)
	if err != nil || len(protos) == 0 {
		return
	}
	if n.mail.addOwn(id) {
		n.log.Info("found a mailbox; fetching from it and telling peers", "mailbox", id.String())
		n.pushPresence()
	}
	n.fetchMailAsync(id)
}

// ownMailboxes are the mailboxes we fetch from with addresses others can dial, for the
// profile: the first maxMailboxes that have any.
func (n *Node) ownMailboxes() []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, id := range n.mail.ownBoxes() {
		if addrs := shareableAddrs(n.host.Peerstore().Addrs(id)); len(addrs) > 0 {
			out = append(out, peer.AddrInfo{ID: id, Addrs: addrs})
		}
		if len(out) == maxMailboxes {
			break
		}
	}
	return out
}

// shareableAddrs are at most two of addrs, those other machines can reach first.
func shareableAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	sorted := slices.Clone(addrs)
	slices.SortStableFunc(sorted, func(a, b ma.Multiaddr) int {
		return boolRank(manet.IsIPLoopback(a)) - boolRank(manet.IsIPLoopback(b))
	})
	return sorted[:min(len(sorted), 2)]
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fetchAllMail fetches from every mailbox we use.
func (n *Node) fetchAllMail() {
	for _, box := range n.mail.ownBoxes() {
		n.fetchMailAsync(box)
	}
}

func (n *Node) fetchMailAsync(box peer.ID) {
	if !n.mail.startFetch(box) {
		return
	}
	n.goRun(func() {
		defer n.mail.endFetch(box)
		n.fetchMail(box)
	})
}

// fetchMail takes our mail from box: each envelope is opened and stored (or dropped,
// when it does not open) before it is acknowledged, then delivery receipts go to the
// authors.
func (n *Node) fetchMail(box peer.ID) {
	ctx, cancel := context.WithTimeout(n.ctx, mailTimeout)
	defer cancel()
	var got mailReceipts
	_, count, err := n.mail.client.Fetch(ctx, box, mailbox.PeerAddress(n.host.ID()), nil, 0, func(it mailbox.Item) error {
		return n.openMail(ctx, box, it, &got)
	})
	if err != nil {
		n.log.Debug("mailbox fetch stopped", "mailbox", box.String(), "fetched", count, "err", err)
	}
	if count > 0 {
		n.log.Info("fetched mail", "mailbox", box.String(), "envelopes", count)
	}
	for author, ids := range got {
		n.goRun(func() { n.sendDeliveryReceipts(author, ids) })
	}
}

// MailboxStatus says what this node keeps for others (counts and bytes per recipient,
// never contents) and what each mailbox it fetches from holds for it now.
func (n *Node) MailboxStatus(ctx context.Context) (api.MailboxStatus, error) {
	var st api.MailboxStatus
	if s := n.MailboxServer(); s != nil {
		st.Serving = true
		for _, h := range s.Holdings() {
			st.Held = append(st.Held, n.apiHolding(h))
		}
		m := s.Metrics()
		st.Metrics = &api.MailboxMetrics{Held: m.Held, HeldBytes: m.HeldBytes, Deposited: m.Deposited,
			Refused: m.Refused, Fetched: m.Fetched, Acked: m.Acked, Expired: m.Expired}
	}
	st.Mine = []api.MailboxMine{}
	for _, box := range n.mail.ownBoxes() {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := n.mail.client.Status(cctx, box, mailbox.StatusReq{To: mailbox.PeerAddress(n.host.ID())})
		cancel()
		mine := api.MailboxMine{Mailbox: box.String(), Count: c.Count, Bytes: c.Bytes, Oldest: c.Oldest}
		if err != nil {
			mine.Error = err.Error()
		}
		st.Mine = append(st.Mine, mine)
	}
	return st, nil
}

func (n *Node) apiHolding(h mailbox.Holding) api.MailboxHolding {
	out := api.MailboxHolding{Count: h.Count, Bytes: h.Bytes, Kind: "room", Recipient: hex.EncodeToString(h.To.ID)}
	if h.To.Kind == mailbox.KindPeer {
		if id, err := peer.IDFromBytes(h.To.ID); err == nil {
			out.Kind, out.Recipient, out.Name = "peer", id.String(), n.nameOf(id.String())
		}
	}
	return out
}
