package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/parley-im/parley/internal/wire"
)

// RequestTimeout bounds one request, from opening the stream to reading the response,
// unless the caller's context is shorter.
const RequestTimeout = 15 * time.Second

// StatusError is a server's answer other than OK.
type StatusError struct {
	Status Status
	Text   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("rendezvous server answered %v: %s", e.Status, e.Text)
}

// Client talks to one rendezvous server from a libp2p host.
type Client struct {
	host   host.Host
	server peer.AddrInfo
}

// NewClient returns a client of server, whose addresses it adds to h's peerstore.
func NewClient(h host.Host, server peer.AddrInfo) *Client {
	h.Peerstore().AddAddrs(server.ID, server.Addrs, peerstore.PermanentAddrTTL)
	return &Client{host: h, server: server}
}

// Server is the server this client talks to.
func (c *Client) Server() peer.AddrInfo { return c.server }

// SignedRecord seals a peer record of the host's current addresses with its key, without
// the ones nobody else can dial (see RecordAddrs).
func (c *Client) SignedRecord() ([]byte, error) {
	key := c.host.Peerstore().PrivKey(c.host.ID())
	if key == nil {
		return nil, errors.New("sign peer record: the host's private key is not in its peerstore")
	}
	return signRecord(key, peer.AddrInfo{ID: c.host.ID(), Addrs: RecordAddrs(c.host.Addrs(), c.LoopbackServer())})
}

// LoopbackServer reports whether the server is reached over loopback (then it runs on this
// machine): by the connection to it, else by its addresses.
func (c *Client) LoopbackServer() bool {
	for _, conn := range c.host.Network().ConnsToPeer(c.server.ID) {
		return manet.IsIPLoopback(conn.RemoteMultiaddr())
	}
	for _, a := range c.server.Addrs {
		if !manet.IsIPLoopback(a) {
			return false
		}
	}
	return len(c.server.Addrs) > 0
}

// RecordAddrs are the addresses of addrs worth publishing in a signed record, or dialling
// from one: never link-local ones (dialled without a zone they mean nothing), nor loopback
// ones, which would make whoever reads the record dial its own machine, unless loopbackOK
// (the server is on this machine, like every peer that reads them from it, as in tests).
// go-libp2p's identify does the same with the addresses it tells a peer.
func RecordAddrs(addrs []ma.Multiaddr, loopbackOK bool) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, a := range addrs {
		if manet.IsIP6LinkLocal(a) || isIP4LinkLocal(a) || (manet.IsIPLoopback(a) && !loopbackOK) {
			continue
		}
		out = append(out, a)
	}
	return out
}

func isIP4LinkLocal(a ma.Multiaddr) bool {
	ip, err := manet.ToIP(a)
	return err == nil && ip.To4() != nil && ip.IsLinkLocalUnicast()
}

// Register registers the host in namespace ns for ttl (0: the server's default,
// otherwise whole seconds) and returns the TTL the server granted. Refresh before it
// runs out: a Keeper does that.
func (c *Client) Register(ctx context.Context, ns string, ttl time.Duration) (time.Duration, error) {
	if err := checkNamespace(ns); err != nil {
		return 0, err
	}
	if ttl < 0 {
		return 0, fmt.Errorf("ttl %v is negative", ttl)
	}
	rec, err := c.SignedRecord()
	if err != nil {
		return 0, err
	}
	req := Message{Type: TypeRegister, Register: Register{Namespace: ns, SignedPeerRecord: rec, TTL: uint64(ttl / time.Second)}}
	resp, err := c.roundTrip(ctx, req, TypeRegisterResponse)
	if err != nil {
		return 0, fmt.Errorf("register in %q: %w", ns, err)
	}
	rr := resp.RegisterResponse
	if rr.Status != StatusOK {
		return 0, fmt.Errorf("register in %q: %w", ns, &StatusError{rr.Status, rr.StatusText})
	}
	return time.Duration(rr.TTL) * time.Second, nil
}

// Unregister withdraws the host's registration in ns and returns once the server has
// applied it.
func (c *Client) Unregister(ctx context.Context, ns string) error {
	if err := checkNamespace(ns); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	st, err := c.open(ctx)
	if err != nil {
		return fmt.Errorf("unregister from %q: %w", ns, err)
	}
	if err := unregister(ctx, st, ns); err != nil {
		st.Reset()
		return fmt.Errorf("unregister from %q: %w", ns, err)
	}
	st.Close()
	return nil
}

// unregister writes UNREGISTER and waits for the server to close the stream, which it
// does only after handling every frame before our EOF.
func unregister(ctx context.Context, st network.Stream, ns string) error {
	defer deadlines(ctx, st)()
	if _, err := st.Write(AppendMessage(nil, Message{Type: TypeUnregister, Unregister: Unregister{Namespace: ns}})); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := st.CloseWrite(); err != nil {
		return fmt.Errorf("close write: %w", err)
	}
	fr := wire.StreamReader(st, nil, 64)
	defer fr.Release()
	if _, err := ReadFrameFrom(fr); err != io.EOF {
		return fmt.Errorf("waiting for the server to close the stream: %v", err)
	}
	return nil
}

// Discover returns up to limit peers registered in ns after cookie (nil: from the
// start), and the cookie to continue from. A page shorter than limit may still be
// followed by more. Registrations whose signature does not verify are left out.
func (c *Client) Discover(ctx context.Context, ns string, limit int, cookie []byte) ([]peer.AddrInfo, []byte, error) {
	if err := checkNamespace(ns); err != nil {
		return nil, nil, err
	}
	req := Message{Type: TypeDiscover, Discover: Discover{Namespace: ns, Limit: uint64(max(limit, 0)), Cookie: cookie}}
	resp, err := c.roundTrip(ctx, req, TypeDiscoverResponse)
	if err != nil {
		return nil, nil, fmt.Errorf("discover %q: %w", ns, err)
	}
	dr := resp.DiscoverResponse
	if dr.Status != StatusOK {
		return nil, nil, fmt.Errorf("discover %q: %w", ns, &StatusError{dr.Status, dr.StatusText})
	}
	peers := make([]peer.AddrInfo, 0, len(dr.Registrations))
	for _, r := range dr.Registrations {
		id, addrs, err := openRecord(r.SignedPeerRecord)
		if err != nil {
			continue
		}
		peers = append(peers, peer.AddrInfo{ID: id, Addrs: addrs})
	}
	return peers, dr.Cookie, nil
}

func (c *Client) open(ctx context.Context) (network.Stream, error) {
	st, err := c.host.NewStream(ctx, c.server.ID, ProtocolID)
	if err != nil {
		return nil, fmt.Errorf("open stream to %s: %w", c.server.ID, err)
	}
	return st, nil
}

// roundTrip sends req on a new stream and reads a response of type want.
func (c *Client) roundTrip(ctx context.Context, req Message, want MessageType) (Message, error) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	st, err := c.open(ctx)
	if err != nil {
		return Message{}, err
	}
	resp, err := exchange(ctx, st, req, want)
	if err != nil {
		st.Reset()
		return Message{}, err
	}
	st.Close()
	return resp, nil
}

func exchange(ctx context.Context, st network.Stream, req Message, want MessageType) (Message, error) {
	defer deadlines(ctx, st)()
	if _, err := st.Write(AppendMessage(nil, req)); err != nil {
		return Message{}, fmt.Errorf("write %v: %w", req.Type, err)
	}
	fr := wire.StreamReader(st, nil, 4096)
	defer fr.Release()
	resp, err := ReadMessageFrom(fr)
	if err != nil {
		return Message{}, fmt.Errorf("read %v: %w", want, err)
	}
	if resp.Type != want {
		return Message{}, fmt.Errorf("%w: expected %v, got %v", ErrMalformed, want, resp.Type)
	}
	return resp, nil
}

// deadlines puts ctx's deadline on st and cuts st short when ctx ends; call the
// returned func when done.
func deadlines(ctx context.Context, st network.Stream) func() {
	deadline, _ := ctx.Deadline()
	st.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { st.SetDeadline(time.Now()) })
	return func() { stop() }
}
