package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/crypto"
)

// ProfileProtocol tells a connecting peer who we are. The side that opens the stream
// reads one frame and closes:
//
//	frame = uvarint length (≤ maxProfileFrame) | protobuf fields
//	1 name  bytes  the display name, UTF-8, at most crypto.MaxNameLen bytes
//
// Unknown fields are skipped, so later versions may add presence and status.
const ProfileProtocol = "/parley/profile/1.0.0"

const (
	maxProfileFrame = 1024
	profileTimeout  = 5 * time.Second
)

var errBadProfile = errors.New("malformed profile frame")

type profile struct {
	Name string
}

func appendProfile(b []byte, p profile) []byte {
	var body []byte
	body = protowire.AppendTag(body, 1, protowire.BytesType)
	body = protowire.AppendString(body, p.Name)
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

// readProfile reads and validates one profile frame, capping its size before allocating.
func readProfile(r io.ByteReader) (profile, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > maxProfileFrame {
		return profile{}, fmt.Errorf("%w: length %d (%v)", errBadProfile, n, err)
	}
	body := make([]byte, n)
	for i := range body {
		if body[i], err = r.ReadByte(); err != nil {
			return profile{}, fmt.Errorf("%w: %v", errBadProfile, err)
		}
	}
	return parseProfile(body)
}

func parseProfile(body []byte) (profile, error) {
	var p profile
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			return profile{}, errBadProfile
		}
		body = body[n:]
		m := protowire.ConsumeFieldValue(num, typ, body)
		if m < 0 {
			return profile{}, errBadProfile
		}
		if num == 1 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(body)
			p.Name = string(v)
		}
		body = body[m:]
	}
	if len(p.Name) > crypto.MaxNameLen || !utf8.ValidString(p.Name) {
		return profile{}, fmt.Errorf("%w: name too long or not UTF-8", errBadProfile)
	}
	return p, nil
}

// serveProfile answers a profile request with our name.
func (n *Node) serveProfile(s network.Stream) {
	s.SetWriteDeadline(time.Now().Add(profileTimeout))
	if _, err := s.Write(appendProfile(nil, profile{Name: n.cfg.Identity.Name})); err != nil {
		s.Reset()
		return
	}
	s.Close()
}

// fetchProfile asks id for its name and records it.
func (n *Node) fetchProfile(id peer.ID) {
	ctx, cancel := context.WithTimeout(n.ctx, profileTimeout)
	defer cancel()
	s, err := n.host.NewStream(ctx, id, ProfileProtocol)
	if err != nil {
		n.log.Debug("profile request failed", "peer", id, "err", err)
		return
	}
	s.SetReadDeadline(time.Now().Add(profileTimeout))
	p, err := readProfile(bufio.NewReaderSize(s, 256))
	if err != nil {
		n.log.Warn("bad profile from peer", "peer", id, "err", err)
		s.Reset()
		return
	}
	s.Close()
	if n.peers.observe(id, p.Name, ViaInbound, nil, time.Now()) {
		n.publishPeer(id)
	}
}
