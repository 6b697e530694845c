package node

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-im/parley/discovery"
)

// How a peer became known.
const (
	ViaMDNS       = "mdns"
	ViaStatic     = "static"  // named with --peer
	ViaInbound    = "inbound" // it connected to us and speaks our protocol
	ViaRendezvous = discovery.ViaRendezvous
)

// peerEntry is what the node remembers of another Parley node.
type peerEntry struct {
	id       peer.ID
	name     string
	ownName  bool // name came from the peer itself (profile or message, over its own stream)
	via      string
	addrs    []ma.Multiaddr
	lastSeen time.Time // last discovery answer or connection
	online   bool      // connected, as last reported by setOnline
	presence string    // what it announced: online, away, busy, offline (invisible); "" = not yet
	status   string    // its free status text
	seq      uint64    // of the last profile applied; 0 after it went offline
}

// peerTable holds the known peers. It is safe for concurrent use.
type peerTable struct {
	mu    sync.Mutex
	peers map[peer.ID]*peerEntry
}

func newPeerTable() *peerTable {
	return &peerTable{peers: make(map[peer.ID]*peerEntry)}
}

// observe records that id was seen via a source, with an optional name and addresses.
// A name from a discovery source is only a claim (anyone on the LAN can announce any
// name for any peer ID), so it never replaces a name the peer stated itself.
// It reports whether anything a user would notice changed (new peer, new name).
func (t *peerTable) observe(id peer.ID, name, via string, addrs []ma.Multiaddr, at time.Time) (changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	if !ok {
		e = &peerEntry{id: id, via: via}
		t.peers[id] = e
		changed = true
	}
	if name != "" && name != e.name && !e.ownName {
		e.name, changed = name, true
	}
	if via != ViaInbound {
		e.via = via // a discovery source says more than "it called us"
	}
	if len(addrs) > 0 {
		e.addrs = addrs
	}
	e.lastSeen = at
	return changed
}

// setOnline records whether id is connected and reports whether that changed.
func (t *peerTable) setOnline(id peer.ID, online bool) (changed, known bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	if !ok {
		return false, false
	}
	changed = e.online != online
	e.online = online
	if online {
		e.lastSeen = time.Now()
	} else {
		e.presence, e.status, e.seq = "", "", 0 // a restarted peer starts its sequence anew
	}
	return changed, true
}

// setPresence applies an announced profile unless it is older than the last one applied;
// it reports whether what users see changed.
func (t *peerTable) setPresence(id peer.ID, p profile) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	if !ok || (p.Seq != 0 && p.Seq < e.seq) {
		return false
	}
	changed := e.presence != p.Presence || e.status != p.Status
	e.presence, e.status, e.seq = p.Presence, p.Status, p.Seq
	return changed
}

// learnName records the name a peer's own message carried, unless the peer already
// stated one.
func (t *peerTable) learnName(id peer.ID, name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	return ok && !e.ownName && e.stateName(name)
}

// setOwnName records the name the peer stated itself in its profile and reports
// whether it changed.
func (t *peerTable) setOwnName(id peer.ID, name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	return ok && e.stateName(name)
}

// stateName sets a name the peer stated itself and reports whether it changed.
func (e *peerEntry) stateName(name string) bool {
	if name == "" {
		return false
	}
	changed := e.name != name
	e.name, e.ownName = name, true
	return changed
}

func (t *peerTable) get(id peer.ID) (peerEntry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	if !ok {
		return peerEntry{}, false
	}
	return *e, true
}

// all returns a copy of every entry, ordered by name then ID.
func (t *peerTable) all() []peerEntry {
	t.mu.Lock()
	out := make([]peerEntry, 0, len(t.peers))
	for _, e := range t.peers {
		out = append(out, *e)
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b peerEntry) int {
		if c := strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)); c != 0 {
			return c
		}
		return strings.Compare(string(a.id), string(b.id))
	})
	return out
}

// byName returns the peers whose name equals name, ignoring case.
func (t *peerTable) byName(name string) []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []peer.ID
	for id, e := range t.peers {
		if strings.EqualFold(e.name, name) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
