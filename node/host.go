package node

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/config"
	corecm "github.com/libp2p/go-libp2p/core/connmgr"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/node/dm"
	"github.com/parley-im/parley/room"
	"github.com/parley-im/parley/transfer"
)

// DefaultPort is where a node listens (TCP and QUIC) unless the port is taken, in which
// case it falls back to a free one, so several homes can run on one machine.
const DefaultPort = 4747

// UserAgent is what identify tells other peers.
const UserAgent = "parley/" + api.Version

// defaultListenAddrs are the TCP and QUIC listeners on port, IPv4 and IPv6.
func defaultListenAddrs(port int) []string {
	return []string{
		fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", port),
		fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", port),
		fmt.Sprintf("/ip6/::/tcp/%d", port),
		fmt.Sprintf("/ip6/::/udp/%d/quic-v1", port),
	}
}

// choosePort returns DefaultPort when both its TCP and UDP sides are free, else 0.
func choosePort() int {
	l, err := net.Listen("tcp4", fmt.Sprintf(":%d", DefaultPort))
	if err != nil {
		return 0
	}
	defer l.Close()
	u, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", DefaultPort))
	if err != nil {
		return 0
	}
	u.Close()
	return DefaultPort
}

// ErrQUICPrivateNetwork means a QUIC listen address was given together with a network key.
var ErrQUICPrivateNetwork = errors.New("QUIC cannot carry a private-network key in go-libp2p; use TCP addresses")

// IsUDPAddr reports whether a listen multiaddr is a UDP one (QUIC, WebTransport...),
// which a private network cannot use.
func IsUDPAddr(a string) bool {
	return strings.Contains(a, "/udp/")
}

// newHost builds the libp2p host: TCP and QUIC, TLS then Noise, yamux, and a connection
// manager whose protected peers (contacts and peers the user wrote to, strangers.go) are
// never trimmed. Port mapping
// (UPnP/NAT-PMP) stays off: Parley never asks a router to open ports. With a network key
// (a libp2p PSK) the host is TCP only: go-libp2p refuses QUIC in a private network.
func newHost(key lcrypto.PrivKey, listen []string, psk pnet.PSK, g corecm.ConnectionGater, addrs config.AddrsFactory) (host.Host, *connmgr.BasicConnMgr, error) {
	cm, err := connmgr.NewConnManager(100, 400, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, nil, fmt.Errorf("connection manager: %w", err)
	}
	explicit := len(listen) > 0
	if explicit && len(psk) > 0 && slices.ContainsFunc(listen, IsUDPAddr) {
		return nil, nil, fmt.Errorf("listen on %v: %w", listen, ErrQUICPrivateNetwork)
	}
	defaults := func(port int) []string {
		l := defaultListenAddrs(port)
		if len(psk) > 0 {
			l = slices.DeleteFunc(l, IsUDPAddr)
		}
		return l
	}
	if !explicit {
		listen = defaults(choosePort())
	}
	h, err := buildHost(key, listen, psk, cm, g, addrs)
	if err != nil && !explicit {
		h, err = buildHost(key, defaults(0), psk, cm, g, addrs)
	}
	if err != nil {
		return nil, nil, err
	}
	return h, cm, nil
}

// WireOptions is the transport stack every Parley host uses, nodes and the rendezvous
// server alike: TCP and QUIC (TCP only with a private-network key, which go-libp2p cannot
// carry over QUIC), TLS preferred over Noise, yamux. Any libp2p.Transport option replaces
// all defaults, so every transport is named here.
func WireOptions(key lcrypto.PrivKey, listen []string, psk pnet.PSK) libp2p.Option {
	transports := libp2p.ChainOptions(libp2p.Transport(tcp.NewTCPTransport), libp2p.Transport(quic.NewTransport))
	if len(psk) > 0 {
		transports = libp2p.ChainOptions(libp2p.Transport(tcp.NewTCPTransport), libp2p.PrivateNetwork(psk))
	}
	return libp2p.ChainOptions(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(listen...),
		transports,
		libp2p.Security(tls.ID, tls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
	)
}

// Relay client support is on so a peer behind a NAT can be reached through a rendezvous
// server's relay; the UDP and IPv6 black-hole detectors are off because on isolated
// networks most dials legitimately fail, and they would then refuse the QUIC dials a
// hole punch needs.
func buildHost(key lcrypto.PrivKey, listen []string, psk pnet.PSK, cm *connmgr.BasicConnMgr, g corecm.ConnectionGater, addrs config.AddrsFactory) (host.Host, error) {
	rm, err := newResourceManager()
	if err != nil {
		return nil, err
	}
	h, err := libp2p.New(
		WireOptions(key, listen, psk),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(g),
		libp2p.UserAgent(UserAgent),
		libp2p.EnableRelay(),
		libp2p.AddrsFactory(addrs),
		libp2p.UDPBlackHoleSuccessCounter(nil),
		libp2p.IPv6BlackHoleSuccessCounter(nil),
	)
	if err != nil {
		var addrErr *net.OpError
		if errors.As(err, &addrErr) {
			return nil, fmt.Errorf("listen on %v: %w: choose other addresses with --listen", listen, err)
		}
		return nil, fmt.Errorf("start libp2p host on %v: %w", listen, err)
	}
	return h, nil
}

// Per-peer stream and memory limits of Parley's own protocols, for one peer. libp2p's
// defaults (64 inbound streams per protocol per peer, 16 MiB each) suit a DHT server;
// a chat peer needs a handful: one DM stream per message in flight, one profile pull or
// presence push at a time, a punch now and then. A protocol's memory is what its frames
// reserve while they are read (internal/wire reserves every frame with its stream's
// scope); yamux windows are reserved with the connection's scope, not here. The file
// protocol's covers contactLargeReads maximal (16 MiB) offers, plus small frames.
var protocolPeerLimits = map[protocol.ID]rcmgr.BaseLimit{
	dm.ProtocolID:       {StreamsInbound: 16, StreamsOutbound: 16, Streams: 32, Memory: 4 << 20},
	ProfileProtocol:     {StreamsInbound: 4, StreamsOutbound: 4, Streams: 8, Memory: 1 << 20},
	PresenceProtocol:    {StreamsInbound: 4, StreamsOutbound: 8, Streams: 12, Memory: 1 << 20},
	PunchProtocol:       {StreamsInbound: 4, StreamsOutbound: 4, Streams: 8, Memory: 1 << 20},
	transfer.ProtocolID: {StreamsInbound: 32, StreamsOutbound: 32, Streams: 64, Memory: contactLargeReads*transfer.MaxOfferFrame + 8<<20},
	room.InviteProtocol: {StreamsInbound: 4, StreamsOutbound: 8, Streams: 12, Memory: 2 << 20},
	room.SyncProtocol:   {StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 16 << 20},
}

// fileProtocolMemory caps what the frames of the file protocol reserve over all peers:
// the strangers' and the contacts' budgets of large frames (node/limits.go), plus small
// frames. libp2p's default would be about a sixth of the machine's memory.
const fileProtocolMemory = strangerFrameBytes + contactFrameBytes + 16<<20

// peerStreamsInbound caps the inbound streams of one peer over all protocols (libp2p's
// default is 256, scaled up with memory).
const peerStreamsInbound = 96

// messengerLimits are libp2p's default limits scaled to this machine, with the
// per-peer limits above: a peer that opens streams faster than it closes them hits its
// own limits (its new streams are reset) long before the node's.
func messengerLimits() rcmgr.ConcreteLimitConfig {
	cfg := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&cfg)
	cfg.PeerBaseLimit.StreamsInbound = peerStreamsInbound
	cfg.PeerLimitIncrease.StreamsInbound = 0
	for p, l := range protocolPeerLimits {
		cfg.AddProtocolPeerLimit(p, l, rcmgr.BaseLimitIncrease{})
	}
	file, inc := cfg.ProtocolBaseLimit, cfg.ProtocolLimitIncrease
	file.Memory, inc.Memory = fileProtocolMemory, 0
	cfg.AddProtocolLimit(transfer.ProtocolID, file, inc)
	return cfg.AutoScale()
}

// newResourceManager is the node's resource manager. The rendezvous server builds its
// host without it and keeps libp2p's defaults.
func newResourceManager() (network.ResourceManager, error) {
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(messengerLimits()))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	return rm, nil
}
