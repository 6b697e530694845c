// Package rendezvous implements the libp2p rendezvous protocol, /rendezvous/1.0.0, for
// presence: a small in-memory server that says who is online in a namespace and where,
// and a client that registers, discovers and keeps its registration fresh. The server
// never carries or stores messages.
//
// # Streams
//
// The client opens a stream to the server and writes request frames (REGISTER,
// UNREGISTER, DISCOVER); the server answers REGISTER with REGISTER_RESPONSE and DISCOVER
// with DISCOVER_RESPONSE, in order. UNREGISTER has no answer: a client that wants to know
// it was applied closes its write side and waits for the server to close the stream. A
// malformed, oversized or unexpected frame resets the stream; the server carries on
// serving everyone else. Every read and write has a deadline.
//
// # Frames
//
//	frame  = length message
//	length = uvarint, the number of bytes in message, 1 ≤ length ≤ MaxFrame
//	message = protobuf wire format of Message (below); unknown fields are skipped
//
// The length is checked against MaxFrame before anything is allocated, and the frame's
// memory is reserved with the stream's resource-manager scope as its bytes arrive
// (ReadFrameFrom, internal/wire). Field numbers and
// enum values are the spec's (github.com/libp2p/specs, rendezvous/README.md):
//
//	Message:          1 type varint (REGISTER 0, REGISTER_RESPONSE 1, UNREGISTER 2,
//	                    DISCOVER 3, DISCOVER_RESPONSE 4; always written, even when 0),
//	                  2 register, 3 registerResponse, 4 unregister, 5 discover,
//	                  6 discoverResponse (embedded messages; the one named by type
//	                    must be present)
//	Register:         1 ns string, 2 signedPeerRecord bytes, 3 ttl varint (seconds)
//	RegisterResponse: 1 status varint, 2 statusText string, 3 ttl varint (seconds)
//	Unregister:       1 ns string, 2 id bytes (deprecated by the spec; ignored)
//	Discover:         1 ns string, 2 limit varint, 3 cookie bytes
//	DiscoverResponse: 1 registrations (repeated Register), 2 cookie bytes,
//	                  3 status varint, 4 statusText string
//
// Statuses: OK 0, E_INVALID_NAMESPACE 100, E_INVALID_SIGNED_PEER_RECORD 101,
// E_INVALID_TTL 102, E_INVALID_COOKIE 103, E_NOT_AUTHORIZED 200, E_INTERNAL_ERROR 300,
// E_UNAVAILABLE 400.
//
// signedPeerRecord is a marshalled libp2p record.Envelope (domain "libp2p-peer-record")
// holding a peer.PeerRecord. The server accepts it only if the signature verifies and the
// signing key, the record's peer ID and the stream's remote peer are one and the same.
//
// # Where Parley differs from the spec
//
//   - TTLs are short, for presence: 60 s by default, 10 s to 10 min accepted (the spec's
//     2 h minimum suits content discovery). A TTL outside the bounds gets E_INVALID_TTL;
//     0 means the default. Clients refresh at TTL/2, so a stopped node leaves DISCOVER
//     within one TTL.
//   - DISCOVER needs a namespace (the spec allows an empty one to mean "all").
//   - The namespace is 1..MaxNamespaceLen bytes.
//   - Registrations per peer and per IP address are capped, and every peer's requests go
//     through a token bucket; a request over a limit gets E_UNAVAILABLE. The per-IP cap
//     counts an IPv4 address by itself and an IPv6 address by its /64 (a host usually has
//     a whole /64 to pick addresses from); an IPv4-mapped IPv6 address is its IPv4 one.
//
// # Cookies
//
// A cookie is opaque to clients and costs the server no state: 16 bytes, the server's
// random epoch (8) then a sequence number (8, big-endian). Every registration (and every
// refresh) takes the next sequence number; DISCOVER returns the live registrations with a
// sequence number above the cookie's, oldest first, and a cookie for the last one
// returned. So paging never skips a registration, and polling with the last cookie
// returns only what is new or refreshed. A cookie from another epoch (the server
// restarted) starts from the beginning. A DISCOVER_RESPONSE stops short of limit when
// the next registration would push the frame over MaxFrame.
package rendezvous
