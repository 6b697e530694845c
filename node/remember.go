package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/parley-im/parley/discovery"
)

// Remembered addresses: the node keeps, in HOME/known-addrs.json, the addresses of the peers
// it has met (every peer that spoke Parley to it, contacts included) and dials them again at
// start, and contacts every rememberRetry after, so a peer on another subnet, beyond mDNS, is
// found again without a rendezvous server once it was seen. Only addresses at the IP the peer
// connected from (or that we dialed it at) are kept (discovery.FitLink with the connection's
// remote address as the source), so a peer cannot make us dial a third host on every start.
const (
	rememberFileName   = "known-addrs.json"
	rememberVersion    = 1
	maxRemembered      = 256 // peers
	maxRememberedAddrs = 8   // per peer
	maxRememberFile    = 1 << 20
	rememberSaveEvery  = 10 * time.Second
	rememberRetry      = time.Minute
	rememberedAddrTTL  = 10 * time.Minute // in the peerstore, refreshed by each retry
)

type rememberedJSON struct {
	Version int            `json:"version"`
	Peers   []rememberedV1 `json:"peers"`
}

type rememberedV1 struct {
	ID    string    `json:"id"`
	Addrs []string  `json:"addrs"`
	Seen  time.Time `json:"seen"`
}

type remembered struct {
	addrs []ma.Multiaddr
	seen  time.Time
}

// addrMemory is the set of remembered peers. It is safe for concurrent use.
type addrMemory struct {
	path      string
	isContact func(peer.ID) bool

	mu    sync.Mutex
	peers map[peer.ID]*remembered
	dirty bool
}

// loadAddrMemory reads path. A missing file is an empty memory; an unreadable or invalid one
// is reported and replaced by an empty memory (it only speeds up finding peers).
func loadAddrMemory(path string, isContact func(peer.ID) bool) (*addrMemory, error) {
	m := &addrMemory{path: path, isContact: isContact, peers: map[peer.ID]*remembered{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRememberFile+1))
	if err != nil {
		return m, err
	}
	if len(b) > maxRememberFile {
		return m, fmt.Errorf("%s is larger than %d bytes: ignored (delete it)", path, maxRememberFile)
	}
	var j rememberedJSON
	if err := json.Unmarshal(b, &j); err != nil || j.Version != rememberVersion {
		return m, fmt.Errorf("%s is not a version %d address list: ignored (delete it)", path, rememberVersion)
	}
	for _, p := range j.Peers {
		id, err := peer.Decode(p.ID)
		if err != nil {
			continue
		}
		var addrs []ma.Multiaddr
		for _, s := range p.Addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				addrs = append(addrs, a)
			}
		}
		m.put(id, discovery.Routable(addrs), p.Seen)
	}
	m.dirty = false
	return m, nil
}

// note records addrs for id, seen at now: the new addresses first, then the old ones, at
// most maxRememberedAddrs.
func (m *addrMemory) note(id peer.ID, addrs []ma.Multiaddr, now time.Time) {
	if len(addrs) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(id, addrs, now)
}

// put is note with mu held (or during load).
func (m *addrMemory) put(id peer.ID, addrs []ma.Multiaddr, seen time.Time) {
	if len(addrs) == 0 {
		return
	}
	r := m.peers[id]
	if r == nil {
		if len(m.peers) >= maxRemembered {
			m.evict()
		}
		r = &remembered{}
		m.peers[id] = r
	}
	var merged []ma.Multiaddr
	for _, a := range slices.Concat(addrs, r.addrs) {
		if !slices.ContainsFunc(merged, a.Equal) {
			merged = append(merged, a)
		}
	}
	r.addrs = merged[:min(len(merged), maxRememberedAddrs)]
	r.seen = seen
	m.dirty = true
}

// evict drops the peer seen longest ago, a non-contact if there is one.
func (m *addrMemory) evict() {
	var victim peer.ID
	var vr *remembered
	for id, r := range m.peers {
		better := vr == nil || (m.isContact(victim) && !m.isContact(id)) ||
			(m.isContact(victim) == m.isContact(id) && r.seen.Before(vr.seen))
		if better {
			victim, vr = id, r
		}
	}
	delete(m.peers, victim)
}

// list returns every remembered peer with its addresses.
func (m *addrMemory) list() []peer.AddrInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]peer.AddrInfo, 0, len(m.peers))
	for id, r := range m.peers {
		out = append(out, peer.AddrInfo{ID: id, Addrs: slices.Clone(r.addrs)})
	}
	return out
}

// save writes the file if anything changed since the last save (a new file, then a rename).
func (m *addrMemory) save() error {
	m.mu.Lock()
	if !m.dirty {
		m.mu.Unlock()
		return nil
	}
	j := rememberedJSON{Version: rememberVersion}
	for id, r := range m.peers {
		p := rememberedV1{ID: id.String(), Seen: r.seen.UTC()}
		for _, a := range r.addrs {
			p.Addrs = append(p.Addrs, a.String())
		}
		j.Peers = append(j.Peers, p)
	}
	m.dirty = false
	m.mu.Unlock()
	slices.SortFunc(j.Peers, func(a, b rememberedV1) int { return b.Seen.Compare(a.Seen) })
	b, err := json.MarshalIndent(j, "", " ")
	if err != nil {
		return err
	}
	tmp := m.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving remembered peer addresses: %w", err)
	}
	if err := os.Rename(tmp, m.path); err != nil {
		return fmt.Errorf("saving remembered peer addresses: %w", err)
	}
	return nil
}

// metAddrs are the addresses of a peer that spoke Parley worth remembering: its listen
// addresses (and, when we dialed it, the address we reached) at the IP of the connection.
// A relayed connection gives none.
func metAddrs(ev event.EvtPeerIdentificationCompleted) []ma.Multiaddr {
	if ev.Conn == nil || ev.Conn.Stat().Limited {
		return nil
	}
	remote := ev.Conn.RemoteMultiaddr()
	ip, err := manet.ToIP(remote)
	if err != nil {
		return nil
	}
	src, ok := netip.AddrFromSlice(ip)
	if !ok {
		return nil
	}
	addrs := slices.Clone(ev.ListenAddrs)
	if ev.Conn.Stat().Direction == network.DirOutbound {
		addrs = append([]ma.Multiaddr{remote}, addrs...)
	}
	return discovery.FitLink(addrs, discovery.Link{Source: src.Unmap()})
}

// loadAddrMemory reads HOME/known-addrs.json into n.memory.
func (n *Node) loadAddrMemory() {
	mem, err := loadAddrMemory(filepath.Join(n.cfg.Home, rememberFileName), n.contacts.isContact)
	if err != nil {
		n.log.Warn("remembered peer addresses", "err", err)
	}
	n.memory = mem
}

// startAddrMemory dials every remembered peer once, and keeps redialing the contacts among
// them that are not connected, and saving changes.
func (n *Node) startAddrMemory() {
	mem := n.memory
	all := mem.list()
	if len(all) > 0 {
		n.log.Debug("dialing remembered peers", "peers", len(all))
	}
	n.dialRemembered(all)
	n.goRun(func() {
		n.every(rememberRetry, func() {
			n.dialRemembered(slices.DeleteFunc(mem.list(), func(ai peer.AddrInfo) bool { return !n.contacts.isContact(ai.ID) }))
		})
	})
	n.goRun(func() { n.every(rememberSaveEvery, n.saveAddrMemory) })
}

func (n *Node) dialRemembered(infos []peer.AddrInfo) {
	for _, ai := range infos {
		if ai.ID == n.host.ID() || n.blocked.has(ai.ID) || n.host.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, rememberedAddrTTL)
		n.dialAsync(ai.ID)
	}
}

func (n *Node) saveAddrMemory() {
	if n.memory == nil {
		return
	}
	if err := n.memory.save(); err != nil {
		n.log.Warn("remembered peer addresses", "err", err)
	}
}
