// Package discovery finds other Parley nodes: mDNS on the LAN now, a rendezvous server later,
// behind one small interface.
//
// # mDNS advert (version 1)
//
// Every node answers DNS-SD queries for the service "_parley._udp" in the domain "local." on
// every up, multicast-capable, non-loopback interface:
//
//	PTR  _parley._udp.local.               -> <peerid>._parley._udp.local.
//	SRV  <peerid>._parley._udp.local.      -> <peerid>.local.:<port of the first TCP listen address>
//	A/AAAA <peerid>.local.                 -> the addresses of the interface the server is bound to
//	TXT  <peerid>._parley._udp.local.      -> the strings below
//
// The instance label and the host name are the peer ID (at most 63 bytes), so two nodes on one
// machine never share a host name. The TXT strings, each at most 255 bytes, are:
//
//	v=1                                   format version; other values are rejected
//	id=<peer ID>                          the advertising node
//	name=<display name>                   UTF-8, control characters removed, cut to fit 255 bytes
//	dnsaddr=<multiaddr>/p2p/<peer ID>     one per listen address, at most 64; the peer ID must
//	                                      equal id=
//
// Keys are case-insensitive; unknown keys and strings without "=" are ignored so later versions
// can add fields; a repeated v, id or name is an error. The SRV and A records are for generic
// DNS-SD browsers: Parley dials only the dnsaddr addresses.
//
// # What an answer is trusted with
//
// Nothing in an answer is authenticated: anyone on the LAN can announce any peer ID, name and
// addresses. So a dnsaddr is kept only when it fits the interface the query went out on
// (FitLink): a plain IPv4 or IPv6 address in one of that interface's subnets, or equal to the
// answer's source address when the mDNS library tells it (hashicorp/mdns does not, so today
// only the subnets count). Loopback, link-local, unspecified and multicast addresses, DNS
// names, zones and relay circuits are dropped, and an answer with no address left is ignored.
// A stranger can still announce addresses of other hosts on the same subnet; it cannot make
// every node dial a host elsewhere, or its own loopback. The peer ID is proven only when the
// node connects (the handshake checks the key): the node (node/peers.go) lists a peer found by
// mDNS only once it has spoken Parley, and forgets one that never does.
//
// # Browsing
//
// hashicorp/mdns servers never announce, so a node browses by querying: at Start, 0.3 s, 1 s and
// 2 s after, then every Interval (5 s); the quick schedule starts over when an interface or
// address appears. Each round re-scans the interfaces (starting and stopping per-interface
// servers, swapping in a new advert when the listen addresses changed) and sends one query per
// interface and address family. A round's answers are reported when its queries end (after
// 0.3 s for the first round), so an already-running node is found in about 0.3 s.
//
// hashicorp's server always answers by unicast to the querying socket, and the query leaves a
// plain UDP socket whose multicast loopback is on, so servers in the same network namespace see
// it: two nodes on one machine find each other. (The servers' own sockets come from
// net.ListenMulticastUDP, which turns loopback off, so multicast answers would not work there.)
// A namespace needs a route for 224.0.0.0/4 (a default route will do), or hashicorp's client
// fails with "failed to bind to any multicast udp port".
package discovery
