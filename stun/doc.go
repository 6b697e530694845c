// Package stun is Parley's STUN (RFC 8489) binding responder and client, built on pion/stun.
//
// Parley nodes behind NAT need their reflexive address, the ip:port their gateway maps a UDP
// socket to, so they can advertise it and punch through to each other (issue 4). The rendezvous
// server runs a Responder next to its libp2p listener (UDP 3478 by default); nodes ask it, or any
// other STUN server, with Mapped, and `parley nat` prints a Probe Report.
//
// # Wire format
//
// Plain STUN over UDP, nothing Parley-specific, so any STUN client or server interoperates:
//
//   - Request: a Binding request (type 0x0001, magic cookie 0x2112A442, 96-bit transaction ID),
//     any attributes. Attributes are ignored except FINGERPRINT, which, when present, must be
//     valid. Requests without the magic cookie (RFC 3489), with a length that is not a multiple
//     of 4 or that disagrees with the datagram, or larger than MaxRequestSize are dropped.
//   - Reply: a Binding success response (0x0101) with the request's transaction ID and, in this
//     order, XOR-MAPPED-ADDRESS (the source address of the request as the responder saw it),
//     SOFTWARE ("parley") and FINGERPRINT.
//   - Everything else (other methods, responses, indications, garbage) gets no reply at all, so
//     the responder never says more than it was asked.
//
// CHANGE-REQUEST (RFC 5780) is not supported; such clients see no OTHER-ADDRESS and conclude so.
//
// # Abuse
//
// A reply is about 2.5 times the size of a minimal request and UDP sources can be spoofed, so
// each source IP has a token bucket (Limit); a flood from one address is dropped while other
// addresses are still answered. The table of buckets is bounded (MaxSources); when it is full of
// active sources, newcomers share one overflow bucket. Counters (Stats) say how many datagrams
// were received, answered, dropped and, of those, rate-limited.
//
// # Client
//
// Mapped sends a Binding request from the socket it is given, so the answer is that socket's
// mapping, retransmits with the same transaction ID (3 tries, 500 ms apart by default), accepts
// only a success response from the server's address with that transaction ID, and returns
// XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS from old servers). Probe asks several servers from one
// socket and reports whether the mapping is endpoint-independent (the same mapped ip:port for
// every server), which is what hole punching needs.
package stun
