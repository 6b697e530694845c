package daemon

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/crypto"
	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/wire"
	"github.com/parley-im/parley/mailbox"
	"github.com/parley-im/parley/node"
	"github.com/parley-im/parley/rendezvous"
	"github.com/parley-im/parley/stun"
)

// Defaults of `parley rendezvous serve`.
const (
	DefaultRendezvousPort = 4001
	DefaultSTUNAddr       = ":3478"       // UDP, a socket of its own
	DefaultMetricsAddr    = "127.0.0.1:0" // HTTP /healthz and /metrics
	DefaultRelayDuration  = 2 * time.Minute
	DefaultRelayData      = 128 << 10
	// Off, given as the STUN or metrics address, turns that part off.
	Off = "off"
)

// RendezvousUserAgent is what the server's identify tells peers.
const RendezvousUserAgent = "parley-rendezvous/" + api.Version

// DefaultRendezvousListen are the server's TCP and QUIC listeners on every IPv4 address.
var DefaultRendezvousListen = []string{
	fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultRendezvousPort),
	fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultRendezvousPort),
}

// RendezvousOptions configure RunRendezvous. The zero value (with a Home) runs the
// defaults: TCP and QUIC on port 4001, STUN on UDP 3478, metrics on a free loopback
// port, no relay.
type RendezvousOptions struct {
	Home    string
	Name    string   // name of a new identity; empty: "rendezvous"
	Listen  []string // libp2p listen multiaddrs; empty: DefaultRendezvousListen
	STUN    string   // UDP address of the STUN responder; empty: DefaultSTUNAddr; Off: none
	Metrics string   // HTTP address of /healthz and /metrics; empty: DefaultMetricsAddr; Off: none
	// NetworkKey, if set, is a private-network key (libp2p PSK): the server is then TCP only
	// and only peers holding the same key can connect to it.
	NetworkKey []byte

	Relay         bool          // run a circuit relay v2 for peers that cannot reach each other
	RelayDuration time.Duration // how long one relayed connection may live; 0: DefaultRelayDuration
	RelayData     int64         // bytes one relayed connection carries each way; 0: DefaultRelayData

	Server rendezvous.ServerConfig // TTLs and limits; the zero value takes the package's defaults
	// Mailbox: with Serve, the server also keeps sealed mail (mailbox.ProtocolID) in
	// HOME/mailbox for any peer (see startMailbox for the quotas); Peers is unused.
	Mailbox node.MailboxConfig
	Logger  *slog.Logger

	// Ready, if set, is called once everything listens.
	Ready func(RendezvousInfo)
}

// RendezvousInfo says where a running rendezvous server can be reached.
type RendezvousInfo struct {
	PeerID  string   `json:"peer_id"`
	Addrs   []string `json:"addrs"`             // full /p2p/ multiaddrs, the ones to give clients first
	STUN    string   `json:"stun,omitempty"`    // host:port of the STUN responder (UDP)
	Metrics string   `json:"metrics,omitempty"` // host:port of /healthz and /metrics (HTTP)
	Relay   bool     `json:"relay"`
	Mailbox bool     `json:"mailbox"`
	Created bool     `json:"created"` // the identity was created by this run
}

func (o RendezvousOptions) withDefaults() RendezvousOptions {
	if o.Name == "" {
		o.Name = "rendezvous"
	}
	if len(o.Listen) == 0 {
		o.Listen = DefaultRendezvousListen
		if len(o.NetworkKey) > 0 {
			o.Listen = slices.DeleteFunc(slices.Clone(o.Listen), node.IsUDPAddr)
		}
	}
	o.STUN = cmp.Or(o.STUN, DefaultSTUNAddr)
	o.Metrics = cmp.Or(o.Metrics, DefaultMetricsAddr)
	o.RelayDuration = cmp.Or(o.RelayDuration, DefaultRelayDuration)
	o.RelayData = cmp.Or(o.RelayData, DefaultRelayData)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// RunRendezvous runs a rendezvous (presence) server with the home's identity, its STUN
// responder, the optional relay and the metrics endpoint until ctx ends. The home's lock
// keeps a second server, or a node, from using the same identity at the same time.
func RunRendezvous(ctx context.Context, o RendezvousOptions) error {
	o = o.withDefaults()
	if len(o.NetworkKey) > 0 && slices.ContainsFunc(o.Listen, node.IsUDPAddr) {
		return fmt.Errorf("listen on %v: %w", o.Listen, node.ErrQUICPrivateNetwork)
	}
	if o.RelayDuration < 0 || o.RelayData < 0 {
		return fmt.Errorf("relay limits must be positive (duration %v, data %d)", o.RelayDuration, o.RelayData)
	}
	if err := os.MkdirAll(o.Home, 0o700); err != nil {
		return fmt.Errorf("create home %s: %w", o.Home, err)
	}
	lock, err := lockHome(o.Home)
	if err != nil {
		return fmt.Errorf("rendezvous server: %w", err)
	}
	defer lock.release()
	id, created, err := crypto.LoadOrCreate(o.Home, o.Name)
	if err != nil {
		return err
	}
	rs := &rendezvousRun{o: o, log: o.Logger}
	defer rs.close()
	if err := rs.start(id.Key); err != nil {
		return err
	}
	if o.Ready != nil {
		o.Ready(rs.info(created))
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-rs.failed:
		return err
	}
}

// rendezvousRun holds the parts of one RunRendezvous; close stops those started.
type rendezvousRun struct {
	o   RendezvousOptions
	log *slog.Logger

	stunConn net.PacketConn
	metrics  net.Listener
	host     host.Host
	server   *rendezvous.Server
	mailbox  *mailbox.Server
	relay    *relay.Relay
	stun     *stun.Responder
	http     *http.Server
	started  time.Time

	failed chan error      // a part that stopped on its own
	done   []chan struct{} // closed when each goroutine returns
}

// start opens the sockets first, so a bad address fails before anything runs.
func (rs *rendezvousRun) start(key lcrypto.PrivKey) error {
	rs.failed = make(chan error, 2)
	rs.started = time.Now()
	var err error
	if rs.stunConn, err = listenSTUN(rs.o.STUN); err != nil {
		return err
	}
	if rs.metrics, err = listenMetrics(rs.o.Metrics); err != nil {
		return err
	}
	if rs.host, err = newRendezvousHost(key, rs.o.Listen, rs.o.NetworkKey); err != nil {
		return err
	}
	cfg := rs.o.Server
	cfg.Log = cmp.Or(cfg.Log, rs.log.With("part", "rendezvous"))
	rs.server = rendezvous.NewServer(rs.host, cfg)
	if rs.o.Mailbox.Serve {
		if rs.mailbox, err = rs.startMailbox(); err != nil {
			return err
		}
	}
	if rs.o.Relay {
		if rs.relay, err = rs.startRelay(); err != nil {
			return err
		}
	}
	rs.serveSTUN()
	rs.serveMetrics()
	return nil
}

// startMailbox keeps sealed mail for everyone: the server has no contacts, so every
// recipient gets the contacts' recipient quota (the server exists to keep their mail)
// and every depositor the strangers' quotas.
func (rs *rendezvousRun) startMailbox() (*mailbox.Server, error) {
	q := rs.o.Mailbox.Quotas
	q.RecipientStranger = q.RecipientContact
	frames := wire.NewBudget(4, 64<<20)
	s, err := mailbox.NewServer(mailbox.Config{
		Host: rs.host, Dir: filepath.Join(rs.o.Home, node.MailboxDir), TTL: rs.o.Mailbox.TTL, Quotas: q,
		Limit:       ratelimit.New[peer.ID](ratelimit.Config{Rate: node.MailboxRate, Burst: node.MailboxBurst}),
		FrameBudget: func(peer.ID) *wire.Budget { return frames },
		Logger:      rs.log.With("part", "mailbox"),
	})
	if err != nil {
		return nil, fmt.Errorf("keep mail (--mailbox): %w", err)
	}
	return s, nil
}

func (rs *rendezvousRun) startRelay() (*relay.Relay, error) {
	r, err := relay.New(rs.host,
		// The default filter offers only public addresses: on a LAN that is none.
		relay.WithReservationAddressFilter(func(ma.Multiaddr) bool { return true }),
		relay.WithLimit(&relay.RelayLimit{Duration: rs.o.RelayDuration, Data: rs.o.RelayData}),
	)
	if err != nil {
		return nil, fmt.Errorf("start relay: %w", err)
	}
	return r, nil
}

// spawn runs f in a goroutine that close waits for; an error from f ends the run.
func (rs *rendezvousRun) spawn(f func() error) {
	done := make(chan struct{})
	rs.done = append(rs.done, done)
	go func() {
		defer close(done)
		if err := f(); err != nil {
			rs.failed <- err
		}
	}()
}

func (rs *rendezvousRun) serveSTUN() {
	if rs.stunConn == nil {
		return
	}
	rs.stun = &stun.Responder{Logger: rs.log.With("part", "stun")}
	pc := rs.stunConn
	rs.spawn(func() error {
		if err := rs.stun.Serve(pc); !errors.Is(err, stun.ErrResponderClosed) {
			return fmt.Errorf("STUN responder stopped: %w", err)
		}
		return nil
	})
}

func (rs *rendezvousRun) serveMetrics() {
	if rs.metrics == nil {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", rs.handleHealth)
	mux.HandleFunc("GET /metrics", rs.handleMetrics)
	rs.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	ln := rs.metrics
	rs.spawn(func() error {
		if err := rs.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics endpoint stopped: %w", err)
		}
		return nil
	})
}

// close stops every part started, newest first, and waits for their goroutines.
func (rs *rendezvousRun) close() {
	if rs.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		if rs.http.Shutdown(ctx) != nil {
			rs.http.Close()
		}
		cancel()
	}
	if rs.stun != nil {
		rs.stun.Close()
	}
	if rs.relay != nil {
		rs.relay.Close()
	}
	if rs.mailbox != nil {
		rs.mailbox.Close()
	}
	if rs.server != nil {
		rs.server.Close()
	}
	if rs.host != nil {
		rs.host.Close()
	}
	if rs.metrics != nil {
		rs.metrics.Close()
	}
	if rs.stunConn != nil {
		rs.stunConn.Close()
	}
	for _, done := range rs.done {
		<-done
	}
}

func (rs *rendezvousRun) info(created bool) RendezvousInfo {
	in := RendezvousInfo{
		PeerID: rs.host.ID().String(), Addrs: p2pAddrs(rs.host), Relay: rs.relay != nil, Created: created,
		Mailbox: rs.mailbox != nil,
	}
	if rs.stunConn != nil {
		in.STUN = rs.stunConn.LocalAddr().String()
	}
	if rs.metrics != nil {
		in.Metrics = rs.metrics.Addr().String()
	}
	return in
}

// p2pAddrs are h's addresses with /p2p/ID, ordered for clients: addresses other
// machines can reach before loopback, IPv4 before IPv6, TCP before QUIC.
func p2pAddrs(h host.Host) []string {
	addrs := slices.Clone(h.Addrs())
	rank := func(a ma.Multiaddr) int {
		r := 0
		if manet.IsIPLoopback(a) {
			r += 4
		}
		if _, err := a.ValueForProtocol(ma.P_IP6); err == nil {
			r += 2
		}
		if _, err := a.ValueForProtocol(ma.P_TCP); err != nil {
			r++
		}
		return r
	}
	slices.SortStableFunc(addrs, func(a, b ma.Multiaddr) int { return cmp.Compare(rank(a), rank(b)) })
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, fmt.Sprintf("%s/p2p/%s", a, h.ID()))
	}
	return out
}

// newRendezvousHost builds the server's libp2p host: TCP and QUIC, TLS then Noise,
// yamux, no port mapping and no relay client. With a network key it is TCP only.
func newRendezvousHost(key lcrypto.PrivKey, listen []string, psk []byte) (host.Host, error) {
	h, err := libp2p.New(
		node.WireOptions(key, listen, psk),
		libp2p.UserAgent(RendezvousUserAgent),
		libp2p.DisableRelay(),
	)
	if err != nil {
		return nil, fmt.Errorf("start libp2p host on %v: %w: choose other addresses with --listen", listen, err)
	}
	return h, nil
}

// listenSTUN opens the responder's UDP socket, or none for Off.
func listenSTUN(addr string) (net.PacketConn, error) {
	if addr == Off {
		return nil, nil
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("STUN responder on udp %s: %w: choose another with --stun, or --stun off", addr, err)
	}
	return pc, nil
}

// listenMetrics opens the metrics endpoint's socket, or none for Off.
func listenMetrics(addr string) (net.Listener, error) {
	if addr == Off {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics on %s: %w: choose another with --metrics, or --metrics off", addr, err)
	}
	return ln, nil
}

// Health is the body of /healthz.
type Health struct {
	Status        string          `json:"status"` // "ok"
	PeerID        string          `json:"peer_id"`
	UptimeSeconds int64           `json:"uptime_seconds"`
	Peers         int             `json:"peers"` // connected peers
	Rendezvous    RendezvousStats `json:"rendezvous"`
	STUN          *stun.Stats     `json:"stun,omitempty"` // absent when STUN is off
	Relay         bool            `json:"relay"`
	// Mailbox: counters of the mail kept (absent without --mailbox), and counts and bytes
	// per recipient, never contents.
	Mailbox *api.MailboxMetrics  `json:"mailbox,omitempty"`
	Held    []api.MailboxHolding `json:"mailbox_held,omitempty"`
}

// RendezvousStats are rendezvous.Stats for JSON.
type RendezvousStats struct {
	Registrations int    `json:"registrations"`
	Namespaces    int    `json:"namespaces"`
	Requests      uint64 `json:"requests"`
	Registers     uint64 `json:"registers"`
	Discovers     uint64 `json:"discovers"`
	Unregisters   uint64 `json:"unregisters"`
	Rejected      uint64 `json:"rejected"`
	RateLimited   uint64 `json:"rate_limited"`
	Malformed     uint64 `json:"malformed"`
	Expired       uint64 `json:"expired"`
}

func (rs *rendezvousRun) health() Health {
	s := rs.server.Stats()
	h := Health{
		Status: "ok", PeerID: rs.host.ID().String(), UptimeSeconds: int64(time.Since(rs.started).Seconds()),
		Peers: len(rs.host.Network().Peers()), Relay: rs.relay != nil,
		Rendezvous: RendezvousStats{
			Registrations: s.Registrations, Namespaces: s.Namespaces, Requests: s.Requests,
			Registers: s.Registers, Discovers: s.Discovers, Unregisters: s.Unregisters,
			Rejected: s.Rejected, RateLimited: s.RateLimited, Malformed: s.Malformed, Expired: s.Expired,
		},
	}
	if rs.stun != nil {
		st := rs.stun.Stats()
		h.STUN = &st
	}
	if rs.mailbox != nil {
		m := rs.mailbox.Metrics()
		h.Mailbox = &api.MailboxMetrics{Held: m.Held, HeldBytes: m.HeldBytes, Deposited: m.Deposited,
			Refused: m.Refused, Fetched: m.Fetched, Acked: m.Acked, Expired: m.Expired}
		for _, x := range rs.mailbox.Holdings() {
			h.Held = append(h.Held, holding(x))
		}
	}
	return h
}

func (rs *rendezvousRun) handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rs.health())
}

func (rs *rendezvousRun) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	writeMetrics(w, rs.health())
}

// writeMetrics writes h in the Prometheus text exposition format.
func writeMetrics(w io.Writer, h Health) {
	metric := func(name, kind, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, kind, name, v)
	}
	r := h.Rendezvous
	metric("parley_rendezvous_uptime_seconds", "gauge", "Seconds since the server started.", uint64(h.UptimeSeconds))
	metric("parley_rendezvous_connected_peers", "gauge", "Peers connected to the server's host.", uint64(h.Peers))
	metric("parley_rendezvous_registrations", "gauge", "Live registrations.", uint64(r.Registrations))
	metric("parley_rendezvous_namespaces", "gauge", "Namespaces with registrations.", uint64(r.Namespaces))
	metric("parley_rendezvous_requests_total", "counter", "Well-formed requests of every type.", r.Requests)
	metric("parley_rendezvous_registers_total", "counter", "REGISTER requests accepted.", r.Registers)
	metric("parley_rendezvous_discovers_total", "counter", "DISCOVER requests answered with OK.", r.Discovers)
	metric("parley_rendezvous_unregisters_total", "counter", "UNREGISTER requests.", r.Unregisters)
	metric("parley_rendezvous_rejected_total", "counter", "Requests answered with a status other than OK.", r.Rejected)
	metric("parley_rendezvous_rate_limited_total", "counter", "Requests rejected for the per-peer rate.", r.RateLimited)
	metric("parley_rendezvous_malformed_total", "counter", "Streams reset for a malformed frame.", r.Malformed)
	metric("parley_rendezvous_expired_total", "counter", "Registrations dropped when their TTL ran out.", r.Expired)
	if s := h.STUN; s != nil {
		metric("parley_stun_received_total", "counter", "STUN datagrams received.", s.Received)
		metric("parley_stun_answered_total", "counter", "STUN binding requests answered.", s.Answered)
		metric("parley_stun_dropped_total", "counter", "STUN datagrams dropped.", s.Dropped)
		metric("parley_stun_rate_limited_total", "counter", "STUN requests dropped for their source's rate.", s.RateLimited)
	}
	if m := h.Mailbox; m != nil {
		metric("parley_mailbox_held", "gauge", "Sealed envelopes held now.", uint64(m.Held))
		metric("parley_mailbox_held_bytes", "gauge", "Bytes of sealed envelopes held now.", uint64(m.HeldBytes))
		metric("parley_mailbox_deposited_total", "counter", "Deposits accepted.", m.Deposited)
		metric("parley_mailbox_refused_total", "counter", "Deposits refused (full, quota, too large, not allowed, rate limited).", m.Refused)
		metric("parley_mailbox_fetched_total", "counter", "Envelopes handed to their recipients.", m.Fetched)
		metric("parley_mailbox_acked_total", "counter", "Envelopes deleted by their recipient's acknowledgement.", m.Acked)
		metric("parley_mailbox_expired_total", "counter", "Envelopes deleted at the end of their TTL.", m.Expired)
	}
}

// holding is h for JSON: a peer's ID as text, a room's in hex.
func holding(h mailbox.Holding) api.MailboxHolding {
	out := api.MailboxHolding{Kind: "room", Recipient: hex.EncodeToString(h.To.ID), Count: h.Count, Bytes: h.Bytes}
	if id, err := peer.IDFromBytes(h.To.ID); err == nil && h.To.Kind == mailbox.KindPeer {
		out.Kind, out.Recipient = "peer", id.String()
	}
	return out
}
