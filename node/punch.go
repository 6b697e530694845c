package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/wire"
)

// PunchProtocol coordinates a hole punch between two peers that only reach each other
// through a relay. go-libp2p's own DCUtR never fires on the private ranges that isolated
// office and field networks are built from, so Parley does it itself:
//
//	the peer with the smaller ID opens the stream (over the relayed connection) and
//	writes its direct addresses; the other answers with its own and at once dials them;
//	the opener dials on reading the answer. Both dials leave from the QUIC listen
//	socket, so each side's NAT sees an outgoing packet to the other's outside address
//	and lets the other's packets in: the first dial that meets one going the other way
//	wins, and both retry a few times to catch it.
//
// Frame: uvarint length (≤ maxPunchFrame) | protobuf: 1 addr bytes (repeated, a binary
// multiaddr, at most maxPunchAddrs of them).
const PunchProtocol = "/parley/punch/1.0.0"

const (
	maxPunchFrame = 4096
	maxPunchAddrs = 32
	punchTries    = 5
	punchSpacing  = 300 * time.Millisecond
	punchTimeout  = 10 * time.Second
)

func appendPunch(b []byte, addrs []ma.Multiaddr) []byte {
	var body []byte
	for _, a := range addrs[:min(len(addrs), maxPunchAddrs)] {
		body = protowire.AppendTag(body, 1, protowire.BytesType)
		body = protowire.AppendBytes(body, a.Bytes())
	}
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

// readPunch reads one frame of addresses, capping its size before allocating.
func readPunch(r *bufio.Reader) ([]ma.Multiaddr, error) {
	return readPunchFrom(wire.NewReader(r, wire.Config{}))
}

// readPunchFrom reads one frame of addresses from fr, which pays for it.
func readPunchFrom(fr *wire.Reader) ([]ma.Multiaddr, error) {
	defer fr.Release()
	body, err := fr.Read(maxPunchFrame)
	if err != nil {
		return nil, fmt.Errorf("%w: punch frame: %w", wire.ErrMalformed, err)
	}
	var addrs []ma.Multiaddr
	err = wire.WalkFields(body, func(num protowire.Number, _ uint64, b []byte) error {
		if num != 1 {
			return nil
		}
		a, err := ma.NewMultiaddrBytes(b)
		if err != nil || len(addrs) == maxPunchAddrs {
			return fmt.Errorf("%w: punch address (%v)", wire.ErrMalformed, err)
		}
		addrs = append(addrs, a)
		return nil
	})
	return addrs, err
}

// directAddrs are our addresses worth punching to: not relayed, not loopback.
func (n *Node) directAddrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range n.host.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil || manet.IsIPLoopback(a) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// onlyRelayed reports whether every connection to id goes through a relay.
func (n *Node) onlyRelayed(id peer.ID) bool {
	conns := n.host.Network().ConnsToPeer(id)
	for _, c := range conns {
		if !c.Stat().Limited {
			return false
		}
	}
	return len(conns) > 0
}

// maybePunch starts a punch to id if we only reach it through a relay and our ID is the
// smaller (so exactly one side starts).
func (n *Node) maybePunch(id peer.ID) {
	if n.host.ID() < id && n.onlyRelayed(id) {
		n.goRun(func() { n.punch(id) })
	}
}

// punch is the opener's side.
func (n *Node) punch(id peer.ID) {
	ctx, cancel := context.WithTimeout(n.ctx, punchTimeout)
	defer cancel()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "punch"), id, PunchProtocol)
	if err != nil {
		n.log.Debug("punch: no stream", "peer", id, "err", err)
		return
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(punchTimeout))
	if _, err := s.Write(appendPunch(nil, n.directAddrs())); err != nil {
		s.Reset()
		return
	}
	theirs, err := readPunchFrom(wire.StreamReader(s, nil, 512))
	if err != nil {
		n.log.Warn("punch: bad answer", "peer", id, "err", err)
		s.Reset()
		return
	}
	n.dialDirect(ctx, id, theirs, true)
}

// servePunch is the answering side: it replies with its addresses and dials at once.
func (n *Node) servePunch(s network.Stream) {
	id := s.Conn().RemotePeer()
	s.SetDeadline(time.Now().Add(punchTimeout))
	theirs, err := readPunchFrom(wire.StreamReader(s, nil, 512))
	if err != nil {
		n.log.Warn("punch: bad request", "peer", id, "err", err)
		s.Reset()
		return
	}
	if _, err := s.Write(appendPunch(nil, n.directAddrs())); err != nil {
		s.Reset()
		return
	}
	s.Close()
	ctx, cancel := context.WithTimeout(n.ctx, punchTimeout)
	defer cancel()
	n.dialDirect(ctx, id, theirs, false)
}

// dialDirect dials id's direct addresses a few times, until a direct connection exists.
func (n *Node) dialDirect(ctx context.Context, id peer.ID, addrs []ma.Multiaddr, opener bool) {
	ctx = network.WithForceDirectDial(ctx, "punch")
	ctx = network.WithSimultaneousConnect(ctx, opener, "punch")
	for try := range punchTries {
		if !n.onlyRelayed(id) {
			n.log.Info("punch: direct connection", "peer", n.displayName(id), "tries", try)
			return
		}
		dctx, cancel := context.WithTimeout(ctx, punchSpacing*3)
		err := n.host.Connect(dctx, peer.AddrInfo{ID: id, Addrs: addrs})
		cancel()
		if err == nil && !n.onlyRelayed(id) {
			n.log.Info("punch: direct connection", "peer", n.displayName(id), "tries", try+1)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(punchSpacing):
		}
	}
	n.log.Info("punch failed; staying on the relay", "peer", n.displayName(id))
}

// reachable reports whether we have a connection to id, direct or through a relay.
func (n *Node) reachable(id peer.ID) bool {
	c := n.host.Network().Connectedness(id)
	return c == network.Connected || c == network.Limited
}
