package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/crypto"
	"github.com/parley-im/parley/internal/wire"
	"github.com/parley-im/parley/mailbox"
)

// Two protocols carry a node's profile (name, presence, status text):
//
//   - ProfileProtocol is a pull: the side that opens the stream reads one frame and
//     closes. A node pulls the profile of every Parley peer that connects.
//   - PresenceProtocol is a push: the side that opens the stream writes one frame and
//     closes. A node pushes its profile to its online peers whenever it changes.
//
// Frame:
//
//	frame = uvarint length (≤ maxProfileFrame) | protobuf fields
//	1 name      bytes   the display name, UTF-8, at most crypto.MaxNameLen bytes
//	2 presence  bytes   online, away, busy or offline (an invisible node says offline)
//	3 status    bytes   free status text, UTF-8, at most MaxStatusLen bytes
//	4 seq       varint  increases with every change; older frames are ignored
//	5 mailkey   bytes   the node's mailbox key binding (mailbox.KeyBinding.Marshal), which
//	                    the receiver checks against the sending peer before sealing to it
//	6 mailbox   bytes   repeated, at most maxProfileMailboxes: a mailbox the node fetches
//	                    from, {1 peer ID bytes, 2 multiaddr bytes repeated (at most 2)}
//
// Unknown fields are skipped, so nodes without mailboxes read the frames of those with
// them; a missing presence means online. A node writes at most oldProfileFrame bytes
// (the cap of nodes before fields 5 and 6), leaving mailboxes out until it fits, and
// reads up to maxProfileFrame.
const (
	ProfileProtocol  = "/parley/profile/1.0.0"
	PresenceProtocol = "/parley/presence/1.0.0"
)

// MaxStatusLen caps the free status text in bytes.
const MaxStatusLen = 256

const (
	maxProfileFrame     = 4096
	oldProfileFrame     = 1024
	maxProfileMailboxes = 8
	profileTimeout      = 5 * time.Second
)

var errBadProfile = errors.New("malformed profile frame")

type profile struct {
	Name     string
	Presence string
	Status   string
	Seq      uint64
	Mail     peerMail // binding and mailboxes; a zero binding: the peer published none
}

// announcedPresences are the values a profile frame may carry.
var announcedPresences = map[string]bool{
	api.PresenceOnline: true, api.PresenceAway: true, api.PresenceBusy: true, api.PresenceOffline: true,
}

func appendProfile(b []byte, p profile) []byte {
	var body []byte
	body = protowire.AppendTag(body, 1, protowire.BytesType)
	body = protowire.AppendString(body, p.Name)
	if p.Presence != "" {
		body = protowire.AppendTag(body, 2, protowire.BytesType)
		body = protowire.AppendString(body, p.Presence)
	}
	if p.Status != "" {
		body = protowire.AppendTag(body, 3, protowire.BytesType)
		body = protowire.AppendString(body, p.Status)
	}
	if p.Seq != 0 {
		body = protowire.AppendTag(body, 4, protowire.VarintType)
		body = protowire.AppendVarint(body, p.Seq)
	}
	mail := p.Mail
	for {
		withMail := appendMailDetails(slices.Clone(body), mail)
		if len(withMail) <= oldProfileFrame || len(mail.boxes) == 0 {
			body = withMail
			break
		}
		mail.boxes = mail.boxes[:len(mail.boxes)-1]
	}
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

// appendMailDetails appends fields 5 and 6 (the same encoding is kept in the archive).
func appendMailDetails(b []byte, pm peerMail) []byte {
	if len(pm.binding.Public) > 0 {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, pm.binding.Marshal())
	}
	for _, box := range pm.boxes {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.BytesType)
		m = protowire.AppendBytes(m, []byte(box.ID))
		for _, a := range box.Addrs[:min(len(box.Addrs), 2)] {
			m = protowire.AppendTag(m, 2, protowire.BytesType)
			m = protowire.AppendBytes(m, a.Bytes())
		}
		b = protowire.AppendTag(b, 6, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	return b
}

// parseMailDetails reads fields 5 and 6 of body, skipping others; owner is the peer
// that published them, whose key the binding must be signed by.
func parseMailDetails(body []byte, owner peer.ID) (peerMail, error) {
	var pm peerMail
	err := wire.WalkFields(body, func(num protowire.Number, _ uint64, b []byte) error {
		switch num {
		case 5:
			kb, err := mailbox.ParseKeyBinding(b)
			if err != nil {
				return err
			}
			if err := kb.Verify(owner); err != nil {
				return err
			}
			pm.binding = kb
		case 6:
			if len(pm.boxes) == maxProfileMailboxes {
				return errors.New("too many mailboxes")
			}
			box, err := parseMailboxRef(b)
			if err != nil {
				return err
			}
			pm.boxes = append(pm.boxes, box)
		}
		return nil
	})
	if err != nil {
		return peerMail{}, fmt.Errorf("%w: mailboxes: %v", errBadProfile, err)
	}
	return pm, nil
}

func parseMailboxRef(body []byte) (peer.AddrInfo, error) {
	var ai peer.AddrInfo
	err := wire.WalkFields(body, func(num protowire.Number, _ uint64, b []byte) error {
		switch num {
		case 1:
			id, err := peer.IDFromBytes(b)
			if err != nil {
				return err
			}
			ai.ID = id
		case 2:
			if len(ai.Addrs) == 2 {
				return errors.New("more than 2 addresses for a mailbox")
			}
			a, err := ma.NewMultiaddrBytes(b)
			if err != nil {
				return err
			}
			ai.Addrs = append(ai.Addrs, a)
		}
		return nil
	})
	if err == nil && ai.ID == "" {
		err = errors.New("a mailbox without a peer ID")
	}
	return ai, err
}

// readProfile reads and validates one profile frame, capping its size before allocating.
func readProfile(r *bufio.Reader, owner peer.ID) (profile, error) {
	return readProfileFrom(wire.NewReader(r, wire.Config{}), owner)
}

// readProfileFrom reads and validates one profile frame from fr, which pays for it.
func readProfileFrom(fr *wire.Reader, owner peer.ID) (profile, error) {
	defer fr.Release()
	body, err := fr.Read(maxProfileFrame)
	if err != nil {
		return profile{}, fmt.Errorf("%w: %v", errBadProfile, err)
	}
	return parseProfile(body, owner)
}

// parseProfile decodes a profile frame's body sent by owner.
func parseProfile(body []byte, owner peer.ID) (profile, error) {
	p := profile{Presence: api.PresenceOnline}
	err := wire.WalkFields(body, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			p.Name = string(b)
		case 2:
			p.Presence = string(b)
		case 3:
			p.Status = string(b)
		case 4:
			p.Seq = v
		}
		return nil
	})
	if err != nil {
		return profile{}, fmt.Errorf("%w: %v", errBadProfile, err)
	}
	if p.Mail, err = parseMailDetails(body, owner); err != nil {
		return profile{}, err
	}
	return p, p.validate()
}

func (p profile) validate() error {
	switch {
	case len(p.Name) > crypto.MaxNameLen || !utf8.ValidString(p.Name):
		return fmt.Errorf("%w: name too long or not UTF-8", errBadProfile)
	case !announcedPresences[p.Presence]:
		return fmt.Errorf("%w: unknown presence %q", errBadProfile, p.Presence)
	case len(p.Status) > MaxStatusLen || !utf8.ValidString(p.Status):
		return fmt.Errorf("%w: status text too long or not UTF-8", errBadProfile)
	}
	return nil
}

// serveProfile answers a pull with our profile as this peer may see it.
func (n *Node) serveProfile(s network.Stream) {
	if n.isBlocked(s.Conn().RemotePeer()) {
		s.Reset()
		return
	}
	s.SetWriteDeadline(time.Now().Add(profileTimeout))
	if _, err := s.Write(appendProfile(nil, n.ownProfile())); err != nil {
		s.Reset()
		return
	}
	s.Close()
}

// receivePresence applies a pushed profile.
func (n *Node) receivePresence(s network.Stream) {
	from := s.Conn().RemotePeer()
	s.SetReadDeadline(time.Now().Add(profileTimeout))
	p, err := readProfileFrom(wire.StreamReader(s, nil, 256), from)
	if err != nil {
		n.log.Warn("bad presence from peer", "peer", from, "err", err)
		s.Reset()
		return
	}
	s.Close()
	n.applyProfile(from, p)
}

// fetchProfile pulls id's profile and records it.
func (n *Node) fetchProfile(id peer.ID) {
	ctx, cancel := context.WithTimeout(n.ctx, profileTimeout)
	defer cancel()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "profile"), id, ProfileProtocol)
	if err != nil {
		n.log.Debug("profile request failed", "peer", id, "err", err)
		return
	}
	s.SetReadDeadline(time.Now().Add(profileTimeout))
	p, err := readProfileFrom(wire.StreamReader(s, nil, 256), id)
	if err != nil {
		n.log.Warn("bad profile from peer", "peer", id, "err", err)
		s.Reset()
		return
	}
	s.Close()
	n.applyProfile(id, p)
}

func (n *Node) applyProfile(id peer.ID, p profile) {
	before, _ := n.peers.get(id)
	changed := n.peers.observe(id, "", ViaInbound, nil, time.Now())
	changed = n.peers.setOwnName(id, p.Name) || changed
	if n.peers.setPresence(id, p) || changed {
		n.log.Info("peer presence", "peer", n.displayName(id), "presence", p.Presence, "status", p.Status)
		n.publishPeer(id)
	}
	if p.Name != before.name {
		n.checkImpersonation(id, p.Name) // a contact's name from another key is flagged, never merged
	}
	n.notePeerMail(id, p.Mail)
}

// pushPresence tells every online peer our current profile.
func (n *Node) pushPresence() {
	frame := appendProfile(nil, n.ownProfile())
	for _, e := range n.peers.all() {
		if !e.online || n.isBlocked(e.id) {
			continue
		}
		n.goRun(func() { n.pushTo(e.id, frame) })
	}
}

func (n *Node) pushTo(id peer.ID, frame []byte) {
	ctx, cancel := context.WithTimeout(n.ctx, profileTimeout)
	defer cancel()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "presence"), id, PresenceProtocol)
	if err != nil {
		n.log.Debug("presence push failed", "peer", id, "err", err)
		return
	}
	s.SetWriteDeadline(time.Now().Add(profileTimeout))
	if _, err := s.Write(frame); err != nil {
		s.Reset()
		return
	}
	s.Close()
}
