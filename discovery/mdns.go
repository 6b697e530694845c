package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// MDNSService is the DNS-SD service Parley nodes advertise and browse, in the domain "local.".
const MDNSService = "_parley._udp"

const (
	mdnsDomain = "local"
	// DefaultMDNSInterval is the browse period once the quick rounds after Start are done.
	DefaultMDNSInterval = 5 * time.Second
	// maxEntriesPerQuery bounds the peers one round reports, whatever the LAN sends.
	maxEntriesPerQuery = 256
)

// quickRounds are the browse times after Start, before settling to Interval: a node that is
// already up is found within the first round.
var quickRounds = []time.Duration{0, 300 * time.Millisecond, time.Second, 2 * time.Second}

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("discovery: mDNS source is closed")

// MDNSConfig configures an MDNS source.
type MDNSConfig struct {
	Self peer.ID // this node; its answers are never reported
	Name string  // display name to advertise

	// Addrs returns the host's current listen addresses (without /p2p/). It is called on every
	// browse round; when the result changes, the advert is refreshed. The SRV port is that of
	// the first TCP address (else the first UDP one); with neither, nothing is advertised.
	// Required.
	Addrs func() []ma.Multiaddr

	// Interval is the browse period after the quick rounds at Start (0, 0.3 s, 1 s, 2 s).
	// Zero means DefaultMDNSInterval.
	Interval time.Duration

	// Found is called for answers from other Parley nodes as they arrive: once per peer per
	// browse round (so a present peer is reported again every Interval), and again in the
	// round when an answer brings more addresses. Announcements are reported the same way.
	// It is called from the browse goroutine, one call at a time: it must not block long, as
	// it delays the next round and Close. Nil means advertise only.
	Found func(Peer)

	// Logger receives debug output. Nil discards.
	Logger *slog.Logger

	// Interfaces lists the candidate interfaces; nil means net.Interfaces. Only up and running,
	// multicast-capable, non-loopback interfaces with an IP address are used.
	Interfaces func() ([]net.Interface, error)
}

// MDNS advertises this node and browses for others with mDNS on every suitable interface.
// It implements Source.
type MDNS struct {
	cfg   MDNSConfig
	log   *slog.Logger
	names names // owner names of our records; names[0] is the service

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	started bool
	closed  bool

	// Owned by the browse goroutine.
	servers  map[ifaceKey]*ifaceServer
	problems map[string]*problemState // by what failed
	round    map[peer.ID]Peer         // reported this round

	// Answers from the socket readers to the browse goroutine.
	inboxMu      sync.Mutex
	inbox        []received
	inboxDropped int
	wake         chan struct{}
}

var _ Source = (*MDNS)(nil)

// NewMDNS checks the config and returns an MDNS source; nothing runs until Start.
func NewMDNS(cfg MDNSConfig) (*MDNS, error) {
	if err := cfg.Self.Validate(); err != nil {
		return nil, fmt.Errorf("discovery: mDNS config: Self: %w", err)
	}
	if n := len(cfg.Self.String()); n > 63 {
		return nil, fmt.Errorf("discovery: mDNS config: peer ID of %d characters does not fit a DNS label (63)", n)
	}
	if cfg.Addrs == nil {
		return nil, errors.New("discovery: mDNS config: Addrs is required")
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("discovery: mDNS config: negative Interval %v", cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultMDNSInterval
	}
	if cfg.Interfaces == nil {
		cfg.Interfaces = net.Interfaces
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &MDNS{
		cfg:      cfg,
		log:      logger,
		servers:  make(map[ifaceKey]*ifaceServer),
		problems: make(map[string]*problemState),
		round:    make(map[peer.ID]Peer),
		wake:     make(chan struct{}, 1),
		names:    ownerNames(cfg.Self),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Start begins advertising and browsing in the background. It fails if called twice or after
// Close. Interfaces that cannot be used are logged, not returned: they are retried every round.
func (m *MDNS) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return ErrClosed
	case m.started:
		return errors.New("discovery: mDNS source already started")
	}
	m.started = true
	m.wg.Go(m.run)
	return nil
}

// Close stops advertising and browsing, says goodbye (records with TTL 0) on every interface,
// and waits for every goroutine it started. It is idempotent.
func (m *MDNS) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	return nil
}

// run is the browse goroutine: it refreshes the servers and queries on the quick schedule
// after Start, then every Interval, and reports answers as the sockets deliver them, until
// Close. When an interface or address appears, the quick schedule starts over so the new
// network is browsed at once.
func (m *MDNS) run() {
	defer m.stopServers()
	base := time.Now() // when the current quick schedule started
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := 0; ; k++ { // k counts rounds since base
		for waiting := true; waiting; {
			select {
			case <-m.ctx.Done():
				return
			case <-m.wake:
				m.drainInbox()
			case <-timer.C:
				waiting = false
			}
		}
		roundStart := time.Now()
		_, grew := m.refresh()
		if grew && k > 0 {
			base, k = roundStart, 0
		}
		m.browse()
		next := roundStart.Add(m.cfg.Interval)
		if k+1 < len(quickRounds) {
			next = base.Add(quickRounds[k+1])
		}
		timer.Reset(time.Until(next))
	}
}

// ownerNames lists the names our records are under: the service, the instance, the host and
// the DNS-SD service enumeration name.
func ownerNames(self peer.ID) names {
	id := self.String()
	return names{MDNSService + "." + mdnsDomain + ".", id + serviceSuffix, id + "." + mdnsDomain + ".",
		"_services._dns-sd._udp." + mdnsDomain + "."}
}

// problemGrace is how long a failure may last before it is logged as a warning: an interface
// that just came up fails IPv6 sends for a second or two (duplicate address detection).
const problemGrace = 5 * time.Second

// problemState tracks one kind of failure for problem.
type problemState struct {
	class  string
	since  time.Time
	warned bool
}

// problem records the outcome of what: failures are logged at debug level, and as a warning
// once the same failure has lasted problemGrace; a success after a warning is logged too.
// Called from the browse goroutine only.
func (m *MDNS) problem(what string, err error) {
	st := m.problems[what]
	if err == nil {
		if st != nil && st.warned {
			m.log.Info("mdns: " + what + " works again")
		}
		delete(m.problems, what)
		return
	}
	class := errClass(err)
	if st == nil || st.class != class {
		st = &problemState{class: class, since: time.Now()}
		m.problems[what] = st
	}
	if !st.warned && time.Since(st.since) >= problemGrace {
		st.warned = true
		m.log.Warn("mdns: "+what+" keeps failing (retrying every round)", "err", err, "since", st.since)
		return
	}
	m.log.Debug("mdns: "+what+" failed", "err", err)
}

// errClass identifies an error without the details that change on every attempt, such as
// the ephemeral port in a *net.OpError.
func errClass(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}

// usableIface is an interface mDNS can run on, with its addresses.
type usableIface struct {
	net.Interface
	ips        []net.IP
	link       Link // what answers received on it are checked against
	has4, has6 bool
}

// interfaces returns the up, multicast-capable, non-loopback interfaces that have a carrier
// (RUNNING) and an address.
func (m *MDNS) interfaces() []usableIface {
	list, err := m.cfg.Interfaces()
	m.problem("listing interfaces", err)
	var out []usableIface
	for _, ifi := range list {
		const want = net.FlagUp | net.FlagRunning | net.FlagMulticast
		if ifi.Flags&want != want || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		u := usableIface{Interface: ifi}
		addrs, err := ifi.Addrs()
		m.problem("listing addresses of "+ifi.Name, err)
		for _, a := range addrs {
			u.add(a)
		}
		u.link = LinkOf(addrs)
		if len(u.ips) > 0 {
			out = append(out, u)
		}
	}
	return out
}

func (u *usableIface) add(a net.Addr) {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPNet:
		ip = a.IP
	case *net.IPAddr:
		ip = a.IP
	}
	if ip == nil || ip.IsLoopback() || ip.IsUnspecified() || ip.IsMulticast() {
		return
	}
	u.ips = append(u.ips, ip)
	if ip.To4() != nil {
		u.has4 = true
	} else {
		u.has6 = true
	}
}
