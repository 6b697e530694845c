package stun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Mapping behaviours a Probe can tell apart (RFC 4787 terms).
const (
	MappingEndpointIndependent = "endpoint-independent" // same ip:port towards every server: punchable
	MappingEndpointDependent   = "endpoint-dependent"   // a different ip:port per server (symmetric NAT)
	MappingUnknown             = "unknown"              // fewer than two distinct servers answered
)

// Report is what Probe learned; `parley nat` prints it.
type Report struct {
	Local               string         `json:"local"`           // the probing socket's address
	Mapped              netip.AddrPort `json:"mapped,omitzero"` // the first server's answer
	Mapping             string         `json:"mapping"`         // one of the Mapping* constants
	EndpointIndependent bool           `json:"endpoint_independent"`
	Results             []Result       `json:"results"` // one per server, in order
}

// Result is one server's answer.
type Result struct {
	Server  string         `json:"server"`           // as given
	Address netip.AddrPort `json:"address,omitzero"` // as resolved
	Mapped  netip.AddrPort `json:"mapped,omitzero"`  // what it saw
	Error   string         `json:"error,omitempty"`  // why there is no answer
}

// Probe opens one UDP socket on an ephemeral port and runs ProbeConn on it.
func Probe(ctx context.Context, servers []string) (Report, error) {
	pc, err := net.ListenPacket("udp", ":0")
	if err != nil {
		return Report{}, fmt.Errorf("stun: open probe socket: %w", err)
	}
	defer pc.Close()
	return Client{}.ProbeConn(ctx, pc, servers)
}

// ProbeConn asks every server, one after another, for conn's mapped address and compares the
// answers. Give two servers on different IP addresses (or one server's two addresses or ports)
// for a verdict on the mapping. It fails only if no server answered.
func (c Client) ProbeConn(ctx context.Context, conn net.PacketConn, servers []string) (Report, error) {
	rep := Report{Local: conn.LocalAddr().String(), Mapping: MappingUnknown, Results: []Result{}}
	var errs []error
	for _, s := range servers {
		res := Result{Server: s}
		dst, err := resolve(ctx, s, conn.LocalAddr())
		if err == nil {
			res.Address = dst
			res.Mapped, err = c.mapped(ctx, conn, dst)
		}
		if err != nil {
			res.Error = err.Error()
			errs = append(errs, err)
		}
		rep.Results = append(rep.Results, res)
	}
	rep.judge()
	if !rep.Mapped.IsValid() {
		return rep, fmt.Errorf("stun: no server answered: %w", errors.Join(errs...))
	}
	return rep, nil
}

// judge fills Mapped, Mapping and EndpointIndependent from Results.
func (rep *Report) judge() {
	dests := make(map[netip.AddrPort]bool)
	mapped := make(map[netip.AddrPort]bool)
	for _, r := range rep.Results {
		if !r.Mapped.IsValid() || dests[r.Address] {
			continue
		}
		if !rep.Mapped.IsValid() {
			rep.Mapped = r.Mapped
		}
		dests[r.Address] = true
		mapped[r.Mapped] = true
	}
	switch {
	case len(dests) < 2:
		rep.Mapping = MappingUnknown
	case len(mapped) == 1:
		rep.Mapping = MappingEndpointIndependent
	default:
		rep.Mapping = MappingEndpointDependent
	}
	rep.EndpointIndependent = rep.Mapping == MappingEndpointIndependent
}
