package stun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	pstun "github.com/pion/stun/v3"
)

// DefaultPort is the STUN port used when a server address has none.
const DefaultPort = 3478

// ErrNoResponse means a server did not answer any try; it may be down, unreachable, or not
// speak STUN on that port.
var ErrNoResponse = errors.New("stun: no response")

// Client holds retransmission settings. The zero value sends 3 tries 500 ms apart.
type Client struct {
	Tries    int           // requests sent before giving up; zero means 3
	Interval time.Duration // wait for an answer after each try; zero means 500 ms
}

// Mapped asks server for conn's mapped address with the default Client.
func Mapped(ctx context.Context, conn net.PacketConn, server string) (netip.AddrPort, error) {
	return Client{}.Mapped(ctx, conn, server)
}

// Mapped sends a Binding request to server ("host:port", or "host" for DefaultPort) from conn,
// so the answer is the mapping conn itself has, and returns the address the server saw. It reads
// from conn until it has an answer, so nothing else may read from conn meanwhile; datagrams that
// are not the answer are discarded. It leaves conn's read deadline cleared.
func (c Client) Mapped(ctx context.Context, conn net.PacketConn, server string) (netip.AddrPort, error) {
	dst, err := resolve(ctx, server, conn.LocalAddr())
	if err != nil {
		return netip.AddrPort{}, err
	}
	return c.mapped(ctx, conn, dst)
}

func (c Client) mapped(ctx context.Context, conn net.PacketConn, dst netip.AddrPort) (netip.AddrPort, error) {
	tries, interval := c.Tries, c.Interval
	if tries <= 0 {
		tries = 3
	}
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	req, err := pstun.Build(pstun.TransactionID, pstun.BindingRequest, pstun.Fingerprint)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun: build request: %w", err)
	}
	// A cancelled ctx unblocks the read by moving the deadline into the past. When Mapped
	// returns, the deadline is cleared, after that function has run if it had started.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = conn.SetReadDeadline(time.Unix(1, 0))
	})
	defer func() {
		if !stop() {
			<-fired
		}
		_ = conn.SetReadDeadline(time.Time{})
	}()
	to := net.UDPAddrFromAddrPort(dst)
	for range tries {
		if err := ctx.Err(); err != nil {
			return netip.AddrPort{}, fmt.Errorf("stun: ask %s: %w", dst, err)
		}
		if _, err := conn.WriteTo(req.Raw, to); err != nil {
			return netip.AddrPort{}, fmt.Errorf("stun: send to %s: %w", dst, err)
		}
		deadline := time.Now().Add(interval)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		got, err := awaitReply(ctx, conn, dst, req.TransactionID, deadline)
		if err == nil || !errors.Is(err, errTryTimeout) {
			return got, err
		}
	}
	if err := ctx.Err(); err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun: ask %s: %w", dst, err)
	}
	return netip.AddrPort{}, fmt.Errorf("%w from %s after %d tries", ErrNoResponse, dst, tries)
}

var errTryTimeout = errors.New("try timed out")

// awaitReply reads until the answer to txID arrives from dst or the deadline passes.
func awaitReply(ctx context.Context, conn net.PacketConn, dst netip.AddrPort, txID [pstun.TransactionIDSize]byte, deadline time.Time) (netip.AddrPort, error) {
	if err := conn.SetReadDeadline(deadline); err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun: set read deadline: %w", err)
	}
	if ctx.Err() != nil { // cancelled before the deadline above replaced AfterFunc's
		_ = conn.SetReadDeadline(time.Unix(1, 0))
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return netip.AddrPort{}, fmt.Errorf("stun: ask %s: %w", dst, cerr)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return netip.AddrPort{}, errTryTimeout
			}
			return netip.AddrPort{}, fmt.Errorf("stun: read answer from %s: %w", dst, err)
		}
		if src, ok := addrPort(from); !ok || src != dst {
			continue
		}
		got, err := parseReply(buf[:n], txID)
		if errors.Is(err, errNotOurs) {
			continue
		}
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("stun: answer from %s: %w", dst, err)
		}
		return got, nil
	}
}

var errNotOurs = errors.New("not the answer to our request")

// parseReply returns the mapped address in a Binding success response to txID. A datagram that
// is not a response to txID gives errNotOurs.
func parseReply(b []byte, txID [pstun.TransactionIDSize]byte) (netip.AddrPort, error) {
	if !pstun.IsMessage(b) {
		return netip.AddrPort{}, errNotOurs
	}
	res := &pstun.Message{Raw: append([]byte(nil), b...)}
	if err := res.Decode(); err != nil || res.TransactionID != txID {
		return netip.AddrPort{}, errNotOurs
	}
	if res.Contains(pstun.AttrFingerprint) && pstun.Fingerprint.Check(res) != nil {
		return netip.AddrPort{}, errNotOurs
	}
	switch res.Type {
	case pstun.BindingSuccess:
	case pstun.BindingError:
		var code pstun.ErrorCodeAttribute
		if err := code.GetFrom(res); err == nil {
			return netip.AddrPort{}, fmt.Errorf("server refused: %d %s", code.Code, code.Reason)
		}
		return netip.AddrPort{}, errors.New("server refused the request")
	default:
		return netip.AddrPort{}, errNotOurs
	}
	var ip net.IP
	var port int
	var xor pstun.XORMappedAddress
	var plain pstun.MappedAddress
	if err := xor.GetFrom(res); err == nil {
		ip, port = xor.IP, xor.Port
	} else if err := plain.GetFrom(res); err == nil {
		ip, port = plain.IP, plain.Port
	} else {
		return netip.AddrPort{}, errors.New("response has no (XOR-)MAPPED-ADDRESS")
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok || port <= 0 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("response has an invalid mapped address %v:%d", ip, port)
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// resolve turns "host[:port]" into one address, preferring local's family.
func resolve(ctx context.Context, server string, local net.Addr) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(server)
	if err != nil {
		host, portStr = strings.TrimSuffix(strings.TrimPrefix(server, "["), "]"), strconv.Itoa(DefaultPort)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("stun: server %q: bad port", server)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun: resolve server %q: %w", server, err)
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("stun: resolve server %q: no addresses", server)
	}
	want4 := true
	if la, ok := addrPort(local); ok && la.Addr().Is6() && !la.Addr().IsUnspecified() {
		want4 = false
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() == want4 {
			return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
		}
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(port)), nil
}
