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

// Limits of the peer table. Anyone on the LAN can announce any number of made-up peer IDs by
// mDNS, so a peer known only from such announcements is not a person until it has spoken
// Parley to us: it is not listed, it is forgotten DefaultForgetAfter after it was first
// announced if it never does, and while forgotten its announcements are ignored (until it has
// been silent for as long). The table holds at most maxPeers entries.
const (
	DefaultForgetAfter = 3 * time.Minute
	maxPeers           = 1000
	minQuiet           = 30 * time.Second // mDNS browses every 5 s
)

// peerEntry is what the node remembers of another Parley node.
type peerEntry struct {
	id        peer.ID
	name      string
	ownName   bool // name came from the peer itself (profile or message, over its own stream)
	via       string
	spoke     bool // it spoke Parley to us (identify, a profile or a message), this run
	vouched   bool // named by more than an mDNS claim: --peer or a signed rendezvous record
	addrs     []ma.Multiaddr
	firstSeen time.Time // when this entry was made
	lastSeen  time.Time // last discovery answer or connection
	online    bool      // connected, as last reported by setOnline
	presence  string    // what it announced: online, away, busy, offline (invisible); "" = not yet
	status    string    // its free status text
	seq       uint64    // of the last profile applied; 0 after it went offline
}

// person reports whether the entry is someone to list: a peer that spoke Parley, or one
// named by something other than an mDNS claim (--peer, a signed rendezvous record).
func (e *peerEntry) person() bool { return e.spoke || e.vouched }

// peerTable holds the known peers. It is safe for concurrent use.
type peerTable struct {
	mu          sync.Mutex
	peers       map[peer.ID]*peerEntry
	forgotten   map[peer.ID]time.Time // mDNS-only peers forgotten, and when last announced since
	max         int
	forgetAfter time.Duration
	// keep reports peers never forgotten or evicted (contacts); nil: none. Called with mu
	// held: it must not call back into the table.
	keep func(peer.ID) bool
}

func newPeerTable() *peerTable {
	return &peerTable{peers: make(map[peer.ID]*peerEntry), forgotten: make(map[peer.ID]time.Time),
		max: maxPeers, forgetAfter: DefaultForgetAfter}
}

func (t *peerTable) kept(id peer.ID) bool { return t.keep != nil && t.keep(id) }

// observe records that id was seen via a source, with an optional name and addresses;
// ViaInbound means it spoke Parley to us. A name from a discovery source is only a claim
// (anyone on the LAN can announce any name for any peer ID), so it never replaces a name
// the peer stated itself. An mDNS announcement of a peer that is forgotten, or that finds
// no room, is ignored (see admit). It reports whether anything a user would notice changed
// (a new person, a new name).
func (t *peerTable) observe(id peer.ID, name, via string, addrs []ma.Multiaddr, at time.Time) (changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	if !ok {
		if !t.admit(id, via, at) {
			return false
		}
		e = &peerEntry{id: id, via: via, firstSeen: at}
		t.peers[id] = e
	}
	wasPerson := ok && e.person()
	if name != "" && name != e.name && !e.ownName {
		e.name, changed = name, true
	}
	switch via {
	case ViaInbound:
		e.spoke = true
	case ViaMDNS:
	default:
		e.vouched = true
	}
	if via != ViaInbound {
		e.via = via // a discovery source says more than "it called us"
	}
	if len(addrs) > 0 {
		e.addrs = addrs
	}
	e.lastSeen = at
	return e.person() && (changed || !wasPerson)
}

// admit decides whether a new entry for id may be made, evicting another when the table is
// full. An mDNS announcement of a forgotten peer is refused (and remembered as recent).
// Room is made by evicting, first, the mDNS-only peer that never spoke and was announced
// first; for a peer that spoke, then the person offline longest. Contacts and --peer peers
// are never evicted; an mDNS-only newcomer never pushes out a person. Called with mu held.
func (t *peerTable) admit(id peer.ID, via string, at time.Time) bool {
	if via == ViaMDNS {
		if _, gone := t.forgotten[id]; gone && !t.kept(id) {
			t.forgotten[id] = at
			return false
		}
	}
	delete(t.forgotten, id)
	if len(t.peers) < t.max {
		return true
	}
	victim, ok := t.evictable(func(e *peerEntry) bool { return !e.person() }, (*peerEntry).firstSeenAt)
	if !ok && via != ViaMDNS {
		victim, ok = t.evictable(func(e *peerEntry) bool { return !e.online && e.via != ViaStatic }, (*peerEntry).lastSeenAt)
	}
	switch {
	case ok:
		delete(t.peers, victim)
		return true
	case via == ViaMDNS:
		return false
	default:
		return true // only contacts and connected peers are here, bounded elsewhere
	}
}

func (e *peerEntry) firstSeenAt() time.Time { return e.firstSeen }
func (e *peerEntry) lastSeenAt() time.Time  { return e.lastSeen }

// evictable returns the entry matching which, never a kept one, with the earliest time.
func (t *peerTable) evictable(which func(*peerEntry) bool, when func(*peerEntry) time.Time) (peer.ID, bool) {
	var best *peerEntry
	for id, e := range t.peers {
		if which(e) && !t.kept(id) && (best == nil || when(e).Before(when(best))) {
			best = e
		}
	}
	if best == nil {
		return "", false
	}
	return best.id, true
}

// forget removes the mDNS-only peers that never spoke Parley and were first announced
// forgetAfter or longer before now, and returns their IDs. Their announcements are then
// ignored until they have been silent for forgetAfter (at least minQuiet, a few browse
// rounds: a peer is heard only when we query). Contacts are never forgotten.
func (t *peerTable) forget(now time.Time) []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone []peer.ID
	for id, e := range t.peers {
		if !e.person() && !t.kept(id) && now.Sub(e.firstSeen) >= t.forgetAfter {
			delete(t.peers, id)
			t.forgotten[id] = now
			gone = append(gone, id)
		}
	}
	quiet := max(t.forgetAfter, minQuiet)
	for id, last := range t.forgotten {
		if now.Sub(last) >= quiet {
			delete(t.forgotten, id) // silent long enough: it may try again
		}
	}
	for len(t.forgotten) > t.max {
		t.dropOldestForgotten()
	}
	return gone
}

func (t *peerTable) dropOldestForgotten() {
	var oldest peer.ID
	var at time.Time
	for id, last := range t.forgotten {
		if oldest == "" || last.Before(at) {
			oldest, at = id, last
		}
	}
	delete(t.forgotten, oldest)
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
func (t *peerTable) all() []peerEntry { return t.list(false) }

// people returns a copy of the entries that are persons (see peerEntry.person), ordered by
// name then ID: what `parley peers` and the web app list.
func (t *peerTable) people() []peerEntry { return t.list(true) }

func (t *peerTable) list(peopleOnly bool) []peerEntry {
	t.mu.Lock()
	out := make([]peerEntry, 0, len(t.peers))
	for _, e := range t.peers {
		if !peopleOnly || e.person() {
			out = append(out, *e)
		}
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

// byName returns the persons whose name equals name, ignoring case: an mDNS claim alone
// names nobody.
func (t *peerTable) byName(name string) []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []peer.ID
	for id, e := range t.peers {
		if e.person() && strings.EqualFold(e.name, name) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
