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
// addresses. So a dnsaddr is kept only when it fits the interface the answer arrived on
// (FitLink): a plain IPv4 or IPv6 address in one of that interface's subnets, or equal to the
// answer's source address. Loopback, link-local, unspecified and multicast addresses, DNS
// names, zones and relay circuits are dropped, and an answer with no address left is ignored.
// A stranger can still announce addresses of other hosts on the same subnet; it cannot make
// every node dial a host elsewhere, or its own loopback. The peer ID is proven only when the
// node connects (the handshake checks the key): the node (node/peers.go) lists a peer found by
// mDNS only once it has spoken Parley, and forgets one that never does. Answers from a source
// port other than 5353 are ignored (RFC 6762 §11).
//
// # Which library does what
//
// hashicorp/mdns builds the records: MDNSService makes the PTR, SRV, TXT and A/AAAA records
// from the instance, host, port, addresses and TXT strings, and answers the DNS-SD service
// enumeration; that part is right and kept. Its server and client are not used, because they
// cannot be made to follow RFC 6762 where it matters: the server answers every query by
// unicast to the querier (never multicast, IP TTL 64, ID 0 even to a legacy query), never
// announces and never says goodbye; the client decodes with miekg/dns's Msg.Unpack, which
// drops a whole packet for one record it cannot decode (python-zeroconf's NSEC), and does not
// tell where an answer came from. So the sockets, the responder and the reader are ours, on
// miekg/dns (the DNS library hashicorp/mdns itself uses, not a second mDNS stack):
//
//   - mdns_conn.go: one socket per interface and address family, bound to port 5353 with
//     SO_REUSEADDR and SO_REUSEPORT (shared with other Parley homes, avahi, python-zeroconf),
//     joined to 224.0.0.251 or ff02::fb on that interface, multicast loopback on, IP TTL and
//     hop limit 255 for every packet (RFC 6762 §11); packets that arrived on other interfaces
//     are skipped by the interface index in the control message.
//   - mdns_server.go, mdns_packet.go: the responder. A query from port 5353 is answered by
//     multicast, or by unicast to the querier when every question has the QU bit (§5.4); a
//     query from another port is a legacy unicast query (§6.7): the answer goes to that port,
//     echoes the ID and the questions, and carries TTLs of at most 10 s. A record the query
//     lists as a known answer with at least half its TTL left is not sent (§7.1), nor are the
//     SRV, TXT and addresses that would come with it. Questions match case-insensitively.
//     The PTR answers the question; the SRV, TXT and addresses go in the additional section,
//     with the cache-flush bit (§10.2). At most one multicast answer per question per second
//     (§6) and 20 unicast answers per second per socket, so a stranger's queries cannot make
//     a node flood the LAN. Two announcements one second apart when a socket opens or the
//     advert changes (§8.3), and goodbye records (TTL 0, §10.1) when an interface goes away,
//     its addresses change, or the node stops. (No probing or conflict resolution, §8.1: the
//     names are peer IDs, unique by construction.)
//   - parseLenient (mdns_packet.go): packets are decoded record by record; a record
//     miekg/dns rejects is skipped and the rest kept. At most 64 questions and 256 records
//     are read from a packet.
//
// # Browsing
//
// A node browses by querying: at Start, 0.3 s, 1 s and 2 s after, then every Interval (5 s);
// the quick schedule starts over when an interface or address appears. Each round re-scans
// the interfaces (opening and closing sockets, swapping in a new advert when the listen
// addresses changed) and sends one QM question for _parley._udp.local. from each socket, with
// the node's own PTR as a known answer so its own responder stays silent. Answers (to anyone's
// query) and announcements are reported as they arrive, once per peer per round (again when
// an answer in the round brings more addresses), so an already-running node is found within
// milliseconds. Only TXT records under _parley._udp.local. are read, from the answer and
// additional sections; a TXT with TTL 0 is a goodbye. Answers wait for the browse goroutine
// in a bounded inbox (512).
//
// Two nodes on one machine find each other: each has its own sockets on the shared port, and
// multicast (loopback on) reaches all of them. A unicast answer (to a QU question, or sent by
// an old Parley that answers everything by unicast) reaches only one of the sockets sharing
// the port, so the node never asks with QU.
package discovery
