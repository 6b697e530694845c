// Package daemon runs a node in the foreground for `parley up`: it takes the home
// directory's lock, loads or creates the identity, starts the node and its local API,
// and tears everything down when its context ends.
package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/crypto"
	"github.com/parley-im/parley/internal/osfile"
	"github.com/parley-im/parley/localapi"
	"github.com/parley-im/parley/node"
	"github.com/parley-im/parley/transfer"
)

// DefaultAPIAddr is where the local API (and the web app) listens unless --api says
// otherwise. A fixed port keeps an open web app tab and its bookmark working across
// restarts. When the API address is not given, the node first tries the port it had
// last time (HOME/api.port), then this one, then any free port; the address it got is
// written to HOME/api.addr for clients.
const DefaultAPIAddr = "127.0.0.1:4748"

// Options configure Run.
type Options struct {
	Home        string
	Name        string   // display name for a new identity; empty: crypto.DefaultName()
	APIAddr     string   // empty: the port of the last start, DefaultAPIAddr, or a free port
	Listen      []string // libp2p listen multiaddrs; empty: defaults
	StaticPeers []string
	MDNS        bool
	Rendezvous  []string      // rendezvous servers' full /p2p/ addresses
	Namespace   string        // rendezvous namespace; empty: "parley"
	STUN        string        // STUN server; empty: the first rendezvous server's; "off": none
	NetworkKey  []byte        // private-network key (libp2p PSK); set: TCP only, only key holders connect
	AwayAfter   time.Duration // idle time before presence turns away; 0 = never
	Retain      time.Duration // purge messages older than this, hourly; 0 = keep all
	OnMessage   string        // command run for every incoming message
	MessageRate float64       // direct messages per second a peer may send; 0: the default; < 0: no limit
	ForgetAfter time.Duration // forget mDNS-announced peers that never speak Parley after this; 0: 3 minutes
	Transfers   TransferOptions
	Mailbox     node.MailboxConfig // keeping mail for others (--mailbox) and where ours is kept
	Logger      *slog.Logger
	// Ready, if set, is called once the node and its API are up.
	Ready func(st api.Status, apiAddr string, createdIdentity bool)
}

// DefaultMessageRate is the default of `up --message-rate`.
const DefaultMessageRate = node.DefaultMessageRate

// DefaultOfferExpiry is the default of `up --offer-expiry`.
const DefaultOfferExpiry = transfer.DefaultPendingExpiry

// TransferOptions are the file-transfer settings of `parley up`.
type TransferOptions struct {
	AcceptFiles string   // contacts (default), any or ask
	Downloads   string   // empty: HOME/downloads
	ScanCmd     []string // scanner argv; the file's path is appended
	MaxSize     int64    // largest incoming transfer; 0 = no limit
	AllowRelay  bool
	OfferExpiry time.Duration // an offer nobody accepted is deleted after this long; 0 = the default
}

func (t TransferOptions) config() (node.TransferConfig, error) {
	accept := t.AcceptFiles
	if accept == "" {
		accept = "contacts"
	}
	policy, err := transfer.ParsePolicy(accept)
	if err != nil {
		return node.TransferConfig{}, fmt.Errorf("--accept-files: %w", err)
	}
	return node.TransferConfig{
		Downloads: t.Downloads, Policy: policy, ScanCmd: t.ScanCmd, MaxSize: t.MaxSize, AllowRelay: t.AllowRelay,
		OfferExpiry: t.OfferExpiry,
	}, nil
}

// ErrAlreadyRunning means another node holds the home directory.
var ErrAlreadyRunning = errors.New("parley is already running")

// Run starts the node and serves its API until ctx ends.
func Run(ctx context.Context, o Options) error {
	if err := os.MkdirAll(o.Home, 0o700); err != nil {
		return fmt.Errorf("create home %s: %w", o.Home, err)
	}
	lock, err := lockHome(o.Home)
	if err != nil {
		return err
	}
	defer lock.release()
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	transfers, err := o.Transfers.config()
	if err != nil {
		return err
	}
	ln, err := listenAPIIn(o.Home, o.APIAddr, log) // before anything is written, so a bad --api leaves no trace
	if err != nil {
		return err
	}
	defer ln.Close()
	name := o.Name
	if name == "" {
		name = crypto.DefaultName()
	}
	id, created, err := crypto.LoadOrCreate(o.Home, name)
	if err != nil {
		return err
	}
	token, err := loadOrCreateToken(o.Home)
	if err != nil {
		return err
	}
	roomClock, err := testRoomClock(log)
	if err != nil {
		return err
	}
	n, err := node.New(node.Config{
		Home: o.Home, Identity: id, ListenAddrs: o.Listen, StaticPeers: o.StaticPeers,
		MDNS: o.MDNS, Rendezvous: o.Rendezvous, Namespace: o.Namespace, STUN: o.STUN, NetworkKey: o.NetworkKey, AwayAfter: o.AwayAfter, Retain: o.Retain, OnMessage: o.OnMessage,
		MessageRate: o.MessageRate, ForgetAfter: o.ForgetAfter, Transfers: transfers, Logger: log, RoomClock: roomClock, Mailbox: o.Mailbox,
	})
	if err != nil {
		return err
	}
	defer n.Close()
	return serve(ctx, o, n, ln, token, log, created)
}

func serve(ctx context.Context, o Options, n *node.Node, ln net.Listener, token string, log *slog.Logger, created bool) error {
	handler := localapi.New(n, token, log.With("part", "api"))
	if err := handler.KeepSessions(filepath.Join(o.Home, api.SessionsFile)); err != nil {
		log.Warn("web app logins were lost", "err", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	addrFile := filepath.Join(o.Home, api.AddrFile)
	if err := writeFileAtomic(addrFile, []byte(ln.Addr().String()+"\n")); err != nil {
		srv.Close()
		return err
	}
	defer os.Remove(addrFile)
	rememberPort(o.Home, ln.Addr(), log)
	if o.Ready != nil {
		o.Ready(n.Status(), ln.Addr().String(), created)
	}
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("local API stopped: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	n.Close() // ends event streams first, so Shutdown need not wait for them
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	<-serveErr
	return nil
}

// defaultAPIAddr is DefaultAPIAddr; tests change it so they never bind a fixed port.
var defaultAPIAddr = DefaultAPIAddr

// listenAPIIn listens on addr, or, when addr is empty, on the first of these that is
// free: 127.0.0.1 with the port remembered in home, DefaultAPIAddr, any free port.
func listenAPIIn(home, addr string, log *slog.Logger) (net.Listener, error) {
	if addr != "" {
		return listenAPI(addr)
	}
	candidates := []string{defaultAPIAddr}
	if port, ok := rememberedPort(home); ok {
		candidates = append([]string{net.JoinHostPort("127.0.0.1", port)}, candidates...)
	}
	for _, c := range candidates {
		ln, err := listenAPI(c)
		if err == nil {
			return ln, nil
		}
		log.Info("local API address taken, trying the next", "addr", c, "err", err)
	}
	return listenAPI("127.0.0.1:0")
}

// rememberedPort is the port in HOME/api.port, if it holds one.
func rememberedPort(home string) (string, bool) {
	data, err := os.ReadFile(filepath.Join(home, api.PortFile))
	if err != nil {
		return "", false
	}
	port := strings.TrimSpace(string(data))
	n, err := strconv.Atoi(port)
	return port, err == nil && n > 0 && n < 65536
}

// rememberPort writes the API's port to HOME/api.port, for the next start. Failing to
// is not fatal: the next start tries DefaultAPIAddr.
func rememberPort(home string, a net.Addr, log *slog.Logger) {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return
	}
	if err := writeFileAtomic(filepath.Join(home, api.PortFile), []byte(strconv.Itoa(tcp.Port)+"\n")); err != nil {
		log.Warn("cannot remember the API port: the next start may use another", "err", err)
	}
}

// TestClockOffsetEnv names a variable for tests only: a duration (e.g. "-1h") added to
// the clock this node stamps its room messages with, to play a member whose clock is
// wrong (integration/web_test.go shows that rooms are ordered by Lamport counter, not by
// that clock). Nobody else should set it.
const TestClockOffsetEnv = "PARLEY_TEST_CLOCK_OFFSET"

func testRoomClock(log *slog.Logger) (func() time.Time, error) {
	v := os.Getenv(TestClockOffsetEnv)
	if v == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w (a test-only setting: unset it)", TestClockOffsetEnv, v, err)
	}
	log.Warn("room messages are stamped with a skewed clock (a test-only setting)", "env", TestClockOffsetEnv, "offset", d)
	return func() time.Time { return time.Now().Add(d) }, nil
}

// listenAPI listens on a loopback address only: the API must never face the network.
func listenAPI(addr string) (net.Listener, error) {
	if addr == "" {
		addr = DefaultAPIAddr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--api %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--api %q: the local API listens on loopback only (127.0.0.1 or ::1)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("local API on %s: %w: choose another with --api", addr, err)
	}
	return ln, nil
}

func loadOrCreateToken(home string) (string, error) {
	path := filepath.Join(home, api.TokenFile)
	data, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(data))) >= 32 {
		return strings.TrimSpace(string(data)), os.Chmod(path, 0o600)
	}
	var b [32]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	return token, writeFileAtomic(path, []byte(token+"\n"))
}

// writeFileAtomic writes data private to the user (0600, an owner-only DACL on
// Windows) by renaming a temporary file into place.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := osfile.WritePrivate(tmp, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
