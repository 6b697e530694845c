package rendezvous

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// cookieLen is the size of a cookie: epoch then sequence number.
const cookieLen = 16

var (
	errInvalidCookie = errors.New("cookie is not one of ours")
	errPeerQuota     = errors.New("too many registrations from this peer")
	errIPQuota       = errors.New("too many registrations from this address")
)

// registration is one peer's presence in one namespace.
type registration struct {
	peer    peer.ID
	ns      string
	record  []byte
	ip      string
	expires time.Time
	seq     uint64
	dead    bool
}

// namespace holds the registrations of one namespace, in sequence order.
type namespace struct {
	byPeer map[peer.ID]*registration
	order  []*registration // ascending seq; includes dead entries until compacted
	dead   int
}

// store is the server's in-memory state. It is safe for concurrent use.
type store struct {
	mu      sync.Mutex
	epoch   [8]byte
	seq     uint64
	spaces  map[string]*namespace
	perPeer map[peer.ID]int
	perIP   map[string]int
	live    int
}

func newStore() *store {
	s := &store{
		spaces:  make(map[string]*namespace),
		perPeer: make(map[peer.ID]int),
		perIP:   make(map[string]int),
	}
	rand.Read(s.epoch[:])
	return s
}

// quota bounds a peer's and an IP address's registrations; 0 means no bound.
type quota struct {
	perPeer, perIP int
}

// add registers (or refreshes) r, giving it the next sequence number.
func (s *store) add(r *registration, q quota) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.spaces[r.ns]
	if ns == nil {
		ns = &namespace{byPeer: make(map[peer.ID]*registration)}
		s.spaces[r.ns] = ns
	}
	old := ns.byPeer[r.peer]
	if old == nil {
		if q.perPeer > 0 && s.perPeer[r.peer] >= q.perPeer {
			s.dropIfEmpty(r.ns, ns)
			return errPeerQuota
		}
		if q.perIP > 0 && s.perIP[r.ip] >= q.perIP {
			s.dropIfEmpty(r.ns, ns)
			return errIPQuota
		}
	} else {
		if old.ip != r.ip && q.perIP > 0 && s.perIP[r.ip] >= q.perIP {
			return errIPQuota
		}
		s.kill(ns, old)
	}
	s.seq++
	r.seq = s.seq
	ns.byPeer[r.peer] = r
	ns.order = append(ns.order, r)
	s.perPeer[r.peer]++
	s.perIP[r.ip]++
	s.live++
	if ns.dead > 64 && ns.dead > len(ns.order)/2 {
		ns.compact()
	}
	return nil
}

// kill marks r dead and releases its quota; the caller holds s.mu.
func (s *store) kill(ns *namespace, r *registration) {
	r.dead = true
	ns.dead++
	delete(ns.byPeer, r.peer)
	s.live--
	if s.perPeer[r.peer]--; s.perPeer[r.peer] <= 0 {
		delete(s.perPeer, r.peer)
	}
	if s.perIP[r.ip]--; s.perIP[r.ip] <= 0 {
		delete(s.perIP, r.ip)
	}
}

func (s *store) dropIfEmpty(name string, ns *namespace) {
	if len(ns.byPeer) == 0 {
		delete(s.spaces, name)
	}
}

func (ns *namespace) compact() {
	kept := ns.order[:0]
	for _, r := range ns.order {
		if !r.dead {
			kept = append(kept, r)
		}
	}
	clear(ns.order[len(kept):])
	ns.order = kept
	ns.dead = 0
}

// remove withdraws p's registration in namespace name, if any.
func (s *store) remove(name string, p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.spaces[name]
	if ns == nil {
		return
	}
	if r := ns.byPeer[p]; r != nil {
		s.kill(ns, r)
	}
	if len(ns.byPeer) == 0 {
		delete(s.spaces, name)
	}
}

// purge drops the registrations that expired at now and compacts every namespace.
func (s *store) purge(now time.Time) (expired int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, ns := range s.spaces {
		for _, r := range ns.byPeer {
			if !now.Before(r.expires) {
				s.kill(ns, r)
				expired++
			}
		}
		if len(ns.byPeer) == 0 {
			delete(s.spaces, name)
			continue
		}
		ns.compact()
	}
	return expired
}

// discover returns up to limit live registrations in namespace name after the cookie,
// oldest first, whose encoding fits in budget bytes, and the cookie to continue from.
func (s *store) discover(name string, cookie []byte, limit, budget int, now time.Time) ([]Register, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	after, err := s.parseCookie(cookie)
	if err != nil {
		return nil, nil, err
	}
	last := after
	var out []Register
	if ns := s.spaces[name]; ns != nil {
		i := sort.Search(len(ns.order), func(i int) bool { return ns.order[i].seq > after })
		for ; i < len(ns.order) && len(out) < limit; i++ {
			r := ns.order[i]
			if r.dead || !now.Before(r.expires) {
				last = r.seq
				continue
			}
			reg := Register{Namespace: r.ns, SignedPeerRecord: r.record, TTL: remaining(r.expires, now)}
			if budget -= registrationSize(reg); budget < 0 {
				break
			}
			out = append(out, reg)
			last = r.seq
		}
	}
	return out, s.cookie(last), nil
}

// remaining is the whole seconds left before expires, rounded up.
func remaining(expires, now time.Time) uint64 {
	return uint64((expires.Sub(now) + time.Second - 1) / time.Second)
}

func (s *store) cookie(seq uint64) []byte {
	c := make([]byte, cookieLen)
	copy(c, s.epoch[:])
	binary.BigEndian.PutUint64(c[8:], seq)
	return c
}

// parseCookie returns the sequence number to continue after: 0 for no cookie or a
// cookie from an earlier run of the server.
func (s *store) parseCookie(c []byte) (uint64, error) {
	if len(c) == 0 {
		return 0, nil
	}
	if len(c) != cookieLen {
		return 0, errInvalidCookie
	}
	if [8]byte(c[:8]) != s.epoch {
		return 0, nil
	}
	seq := binary.BigEndian.Uint64(c[8:])
	if seq > s.seq {
		return 0, errInvalidCookie
	}
	return seq, nil
}

// counts returns the number of live registrations and of namespaces.
func (s *store) counts() (registrations, namespaces int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live, len(s.spaces)
}
