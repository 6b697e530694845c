package node

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
)

// ownPresence is what this node's user has chosen to show, plus what automatic away did.
type ownPresence struct {
	mu        sync.Mutex
	presence  string // online, away, busy or invisible
	status    string
	autoAway  bool // presence is away because the user was idle
	seq       uint64
	lastTouch time.Time
}

// settable are the presences a user may choose.
var settable = map[string]bool{
	api.PresenceOnline: true, api.PresenceAway: true, api.PresenceBusy: true, api.PresenceInvisible: true,
}

// SetPresence changes our presence and status text and tells our online peers at once.
func (n *Node) SetPresence(presence, status string) (api.Presence, error) {
	presence = strings.ToLower(strings.TrimSpace(presence))
	if !settable[presence] {
		return api.Presence{}, fmt.Errorf("%w: presence %q: use online, away, busy or invisible", api.ErrBadRequest, presence)
	}
	if len(status) > MaxStatusLen || !utf8.ValidString(status) {
		return api.Presence{}, fmt.Errorf("%w: status text is longer than %d bytes or not UTF-8", api.ErrBadRequest, MaxStatusLen)
	}
	n.me.mu.Lock()
	n.me.presence, n.me.status, n.me.autoAway = presence, status, false
	n.me.bump()
	n.me.lastTouch = time.Now()
	n.me.mu.Unlock()
	n.pushPresence()
	return n.Presence(), nil
}

// Presence is what we show.
func (n *Node) Presence() api.Presence {
	n.me.mu.Lock()
	defer n.me.mu.Unlock()
	return api.Presence{Presence: n.me.presence, Status: n.me.status, Auto: n.me.autoAway}
}

// ownProfile is our profile as peers see it: an invisible node says offline.
func (n *Node) ownProfile() profile {
	n.me.mu.Lock()
	defer n.me.mu.Unlock()
	p := profile{Name: n.cfg.Identity.Name, Presence: n.me.presence, Status: n.me.status, Seq: n.me.seq}
	if p.Presence == api.PresenceInvisible {
		p.Presence, p.Status = api.PresenceOffline, ""
	}
	if n.mail != nil {
		p.Mail = peerMail{binding: n.mail.key.Binding(), boxes: n.ownMailboxes()}
	}
	return p
}

// touch records user activity: it ends automatic away.
func (n *Node) touch() {
	n.me.mu.Lock()
	n.me.lastTouch = time.Now()
	back := n.me.autoAway
	if back {
		n.me.presence, n.me.autoAway = api.PresenceOnline, false
		n.me.bump()
	}
	n.me.mu.Unlock()
	if back {
		n.pushPresence()
	}
}

// idleCheckEvery is how often the idle rule is checked: often enough that away comes
// within a quarter of AwayAfter, never more than every 30 s.
func (n *Node) idleCheckEvery() time.Duration {
	return max(min(n.cfg.AwayAfter/4, 30*time.Second), 10*time.Millisecond)
}

// checkIdle turns an online user away after cfg.AwayAfter without activity.
func (n *Node) checkIdle() {
	if n.goIdleAway() {
		n.log.Info("no activity: presence is now away", "after", n.cfg.AwayAfter)
		n.pushPresence()
	}
}

func (n *Node) goIdleAway() bool {
	n.me.mu.Lock()
	defer n.me.mu.Unlock()
	if n.me.presence != api.PresenceOnline || time.Since(n.me.lastTouch) < n.cfg.AwayAfter {
		return false
	}
	n.me.presence, n.me.autoAway = api.PresenceAway, true
	n.me.bump()
	return true
}

// bump advances the profile sequence: wall-clock nanoseconds, so it keeps increasing
// across restarts, and at least one more than before. Callers hold mu.
func (o *ownPresence) bump() {
	o.seq = max(o.seq+1, uint64(time.Now().UnixNano()))
}

// isBlocked reports whether id is blocked. Blocked peers cannot connect and see nothing.
func (n *Node) isBlocked(id peer.ID) bool {
	return n.blocked.has(id)
}

// blockList is the set of blocked peers, read on every connection attempt.
type blockList struct {
	mu  sync.RWMutex
	ids map[peer.ID]bool
}

func (b *blockList) has(id peer.ID) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.ids[id]
}

func (b *blockList) set(id peer.ID, blocked bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ids == nil {
		b.ids = make(map[peer.ID]bool)
	}
	if blocked {
		b.ids[id] = true
	} else {
		delete(b.ids, id)
	}
}
