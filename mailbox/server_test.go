package mailbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-im/parley/internal/ratelimit"
)

// loopbackHost is a libp2p host on 127.0.0.1 with identity priv (no mDNS, no relay).
func loopbackHost(t testing.TB, priv lcrypto.PrivKey) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(tls.ID, tls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// rig is a mailbox host and the people who use it.
type rig struct {
	t    testing.TB
	dir  string
	mbox host.Host
	srv  *Server
}

func newRig(t testing.TB, cfg Config) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir()}
	priv, _, _ := lcrypto.GenerateEd25519Key(nil)
	r.mbox = loopbackHost(t, priv)
	cfg.Host, cfg.Dir = r.mbox, r.dir
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r.srv = srv
	return r
}

// client is a person's host, connected to the mailbox host.
func (r *rig) client(who ident) *Client {
	r.t.Helper()
	h := loopbackHost(r.t, who.priv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: r.mbox.ID(), Addrs: r.mbox.Addrs()}); err != nil {
		r.t.Fatal(err)
	}
	return &Client{Host: h}
}

func (r *rig) deposit(c *Client, to Address, env []byte) error {
	_, err := c.Deposit(context.Background(), r.mbox.ID(), Deposit{To: to, Envelope: env})
	return err
}

// fetchAll fetches and opens everything for who, returning the letters' IDs and texts.
func (r *rig) fetchAll(c *Client, who ident) []string {
	r.t.Helper()
	var got []string
	_, _, err := c.Fetch(context.Background(), r.mbox.ID(), PeerAddress(who.id), nil, 0, func(it Item) error {
		l, err := who.key.Open(it.Envelope)
		if err != nil {
			return err
		}
		got = append(got, l.ID+":"+string(l.Body))
		return nil
	})
	if err != nil {
		r.t.Fatalf("fetch: %v", err)
	}
	return got
}

// TestDepositWhileAbsentFetchLaterOnce: Ann deposits 20 letters for Bob, who has no host
// yet, and goes away; Bob comes, fetches all 20 in order; a second fetch gets nothing
// (the ACK deleted them).
func TestDepositWhileAbsentFetchLaterOnce(t *testing.T) {
	r := newRig(t, Config{})
	ann, bob := newIdent(t), newIdent(t)
	ac := r.client(ann)
	for i := range 20 {
		if err := r.deposit(ac, PeerAddress(bob.id), sealTo(t, ann, bob, fmt.Sprintf("m%02d", i), "text")); err != nil {
			t.Fatal(err)
		}
	}
	ac.Host.Close()
	bc := r.client(bob)
	got := r.fetchAll(bc, bob)
	if len(got) != 20 {
		t.Fatalf("bob got %d letters, want 20: %v", len(got), got)
	}
	for i, g := range got {
		if want := fmt.Sprintf("m%02d:text", i); g != want {
			t.Errorf("letter %d is %q, want %q", i, g, want)
		}
	}
	if again := r.fetchAll(bc, bob); len(again) != 0 {
		t.Errorf("a second fetch got %v", again)
	}
	m := r.srv.Metrics()
	if m.Deposited != 20 || m.Acked != 20 || m.Fetched != 20 || m.Held != 0 {
		t.Errorf("metrics %+v", m)
	}
	t.Logf("metrics %+v", m)
}

// TestOnlyTheRecipientFetches: Carol, authenticated as herself, cannot fetch, ack or
// count Bob's mail.
func TestOnlyTheRecipientFetches(t *testing.T) {
	r := newRig(t, Config{})
	ann, bob, carol := newIdent(t), newIdent(t), newIdent(t)
	if err := r.deposit(r.client(ann), PeerAddress(bob.id), sealTo(t, ann, bob, "m1", "secret")); err != nil {
		t.Fatal(err)
	}
	cc := r.client(carol)
	_, _, err := cc.Fetch(context.Background(), r.mbox.ID(), PeerAddress(bob.id), nil, 0, func(Item) error {
		t.Error("carol was handed bob's mail")
		return nil
	})
	if !errors.Is(err, ErrNotAllowed) {
		t.Errorf("carol's fetch: %v", err)
	}
	if _, err := cc.Status(context.Background(), r.mbox.ID(), StatusReq{To: PeerAddress(bob.id)}); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("carol's status: %v", err)
	}
	k, err := cc.open(context.Background(), r.mbox.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := cc.ack(context.Background(), k, PeerAddress(bob.id), []uint64{1}); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("carol's ack: %v", err)
	}
	k.close()
	bc := r.client(bob)
	if c, err := bc.Status(context.Background(), r.mbox.ID(), StatusReq{To: PeerAddress(bob.id)}); err != nil || c.Count != 1 {
		t.Errorf("bob's status: %+v, %v", c, err)
	}
	if got := r.fetchAll(bc, bob); len(got) != 1 {
		t.Errorf("bob got %v", got)
	}
}

// TestStrangerQuotaContactAccepted: a stranger floods deposits until its quota answers
// "over quota"; a contact's deposit is still accepted.
func TestStrangerQuotaContactAccepted(t *testing.T) {
	ann, bob, stranger := newIdent(t), newIdent(t), newIdent(t)
	r := newRig(t, Config{
		IsContact: func(p peer.ID) bool { return p == ann.id || p == bob.id },
		Quotas:    Quotas{DepositorStranger: Quota{Count: 5, Bytes: 1 << 20}},
	})
	sc := r.client(stranger)
	var err error
	n := 0
	for ; n < 50; n++ {
		if err = r.deposit(sc, PeerAddress(bob.id), []byte("junk junk junk")); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrQuota) || n != 5 {
		t.Fatalf("stranger: %d accepted, then %v; want 5 then ErrQuota", n, err)
	}
	if err := r.deposit(r.client(ann), PeerAddress(bob.id), sealTo(t, ann, bob, "m1", "hi")); err != nil {
		t.Errorf("the contact's deposit: %v", err)
	}
	t.Logf("after the flood: %+v", r.srv.Metrics())
}

// TestStrangersTogetherHitOneQuota: fresh identities do not get fresh room: all strangers
// share one quota.
func TestStrangersTogetherHitOneQuota(t *testing.T) {
	bob := newIdent(t)
	r := newRig(t, Config{Quotas: Quotas{Strangers: Quota{Count: 4, Bytes: 1 << 20}}})
	accepted := 0
	var err error
	for range 6 {
		if err = r.deposit(r.client(newIdent(t)), PeerAddress(bob.id), []byte("junk")); err == nil {
			accepted++
		}
	}
	if accepted != 4 || !errors.Is(err, ErrQuota) {
		t.Errorf("%d accepted from 6 strangers, last %v; want 4 and ErrQuota", accepted, err)
	}
}

func TestMailboxFullAndTooLarge(t *testing.T) {
	ann, bob := newIdent(t), newIdent(t)
	r := newRig(t, Config{
		IsContact: func(peer.ID) bool { return true },
		Quotas:    Quotas{Total: Quota{Count: 2, Bytes: 1 << 20}, MaxEnvelope: 4096},
	})
	ac := r.client(ann)
	for i := range 2 {
		if err := r.deposit(ac, PeerAddress(bob.id), sealTo(t, ann, bob, fmt.Sprint(i), "x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.deposit(ac, PeerAddress(bob.id), sealTo(t, ann, bob, "3", "x")); !errors.Is(err, ErrFull) {
		t.Errorf("third deposit: %v, want ErrFull", err)
	}
	if err := r.deposit(ac, PeerAddress(bob.id), make([]byte, 5000)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("5000-byte envelope: %v, want ErrTooLarge", err)
	}
	r.fetchAll(r.client(bob), bob)
	if err := r.deposit(ac, PeerAddress(bob.id), sealTo(t, ann, bob, "4", "x")); err != nil {
		t.Errorf("after bob fetched: %v", err)
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestTTLExpiry(t *testing.T) {
	ck := &clock{now: time.Unix(1_800_000_000, 0)}
	ann, bob := newIdent(t), newIdent(t)
	r := newRig(t, Config{Now: ck.Now})
	ac := r.client(ann)
	d, err := ac.Deposit(context.Background(), r.mbox.ID(), Deposit{To: PeerAddress(bob.id), Envelope: sealTo(t, ann, bob, "short", "x"), TTL: time.Hour})
	if err != nil || !d.Expires.Equal(ck.Now().Add(time.Hour)) {
		t.Fatalf("deposit: %+v, %v", d, err)
	}
	d, err = ac.Deposit(context.Background(), r.mbox.ID(), Deposit{To: PeerAddress(bob.id), Envelope: sealTo(t, ann, bob, "default", "x")})
	if err != nil || !d.Expires.Equal(ck.Now().Add(DefaultTTL)) {
		t.Fatalf("deposit with the default TTL: %+v, %v", d, err)
	}
	d, _ = ac.Deposit(context.Background(), r.mbox.ID(), Deposit{To: PeerAddress(bob.id), Envelope: []byte("x"), TTL: 365 * 24 * time.Hour})
	if !d.Expires.Equal(ck.Now().Add(DefaultMaxTTL)) {
		t.Errorf("a year's TTL was granted until %v, want the 30-day maximum", d.Expires)
	}
	ck.add(2 * time.Hour)
	if n := r.srv.Purge(); n != 1 {
		t.Errorf("purge deleted %d, want 1", n)
	}
	ck.add(DefaultTTL)
	r.srv.Purge()
	if m := r.srv.Metrics(); m.Expired != 2 || m.Held != 1 {
		t.Errorf("metrics after expiry: %+v", m)
	}
	ck.add(DefaultMaxTTL)
	if got := r.fetchAll(r.client(bob), bob); len(got) != 0 { // expired but not yet purged: not served
		t.Errorf("bob got expired mail %v", got)
	}
}

func TestRoomMail(t *testing.T) {
	room := RoomAddress([]byte("room-id-0123456789abcdef01234567"))
	secret := RoomSecret([]byte("room key"), room.ID, 1)
	ann, bob, outsider := newIdent(t), newIdent(t), newIdent(t)
	r := newRig(t, Config{IsKnownRoom: func([]byte) bool { return true }})
	ac := r.client(ann)
	if err := r.deposit(ac, room, []byte("sealed with the room key")); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("room deposit without the secret: %v", err)
	}
	for i := range 3 {
		if _, err := ac.Deposit(context.Background(), r.mbox.ID(), Deposit{To: room, Envelope: []byte(fmt.Sprint("room envelope ", i)), Secret: secret}); err != nil {
			t.Fatal(err)
		}
	}
	fetch := func(c *Client, s []byte, after uint64) (uint64, int, error) {
		return c.Fetch(context.Background(), r.mbox.ID(), room, s, after, func(Item) error { return nil })
	}
	bc := r.client(bob)
	last, n, err := fetch(bc, secret, 0)
	if err != nil || n != 3 {
		t.Fatalf("bob fetched %d, %v", n, err)
	}
	if _, n, _ := fetch(bc, secret, last); n != 0 {
		t.Errorf("after the cursor: %d more", n)
	}
	if _, n, _ := fetch(r.client(newIdent(t)), secret, 0); n != 3 { // another member: still there
		t.Errorf("a second member fetched %d, want 3 (room mail is not deleted by a fetch)", n)
	}
	oc := r.client(outsider)
	if _, n, err := fetch(oc, RoomSecret([]byte("guess"), room.ID, 1), 0); n != 0 || err != nil {
		t.Errorf("a wrong secret fetched %d, %v", n, err)
	}
	if _, _, err := fetch(oc, nil, 0); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("no secret: %v", err)
	}
}

func TestRateLimitedDeposits(t *testing.T) {
	lim := ratelimit.New[peer.ID](ratelimit.Config{Rate: 0.001, Burst: 3, CloseAfter: 100})
	ann, bob := newIdent(t), newIdent(t)
	r := newRig(t, Config{Limit: lim})
	ac := r.client(ann)
	var err error
	n := 0
	for ; n < 10 && err == nil; n++ {
		err = r.deposit(ac, PeerAddress(bob.id), []byte("x"))
	}
	if !errors.Is(err, ErrRateLimited) || n != 4 {
		t.Errorf("%d deposits then %v; want the 4th rate limited", n, err)
	}
}

// TestStoreHoldsNoPlaintext: the mailbox's files never contain the letters' text, nor
// the sender's message IDs.
func TestStoreHoldsNoPlaintext(t *testing.T) {
	ann, bob := newIdent(t), newIdent(t)
	r := newRig(t, Config{})
	ac := r.client(ann)
	for i := range 20 {
		if err := r.deposit(ac, PeerAddress(bob.id), sealTo(t, ann, bob, fmt.Sprintf("msgid-%d", i), fmt.Sprintf("the plaintext number %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	r.srv.Close()
	files, _ := filepath.Glob(filepath.Join(r.dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"the plaintext", "msgid-"} {
			if strings.Contains(string(b), s) {
				t.Errorf("%s contains %q", filepath.Base(f), s)
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("no store files")
	}
}

// TestSIGKILLLosesNothing: a mailbox process (this test binary, re-executed) is killed
// with SIGKILL after acknowledging deposits; a mailbox opened on its directory serves
// every acknowledged envelope.
func TestSIGKILLLosesNothing(t *testing.T) {
	if os.Getenv("MAILBOX_CHILD_DIR") != "" {
		t.Skip("the child")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMailboxChild$")
	cmd.Env = append(os.Environ(), "MAILBOX_CHILD_DIR="+dir)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	var info *peer.AddrInfo
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "MAILBOX "); ok {
			m, err := ma.NewMultiaddr(a)
			if err == nil {
				info, err = peer.AddrInfoFromP2pAddr(m)
			}
			if err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if info == nil {
		t.Fatal("the child mailbox did not start")
	}
	ann, bob := newIdent(t), newIdent(t)
	ah := loopbackHost(t, ann.priv)
	if err := ah.Connect(context.Background(), *info); err != nil {
		t.Fatal(err)
	}
	ac := &Client{Host: ah}
	var ds []Deposit
	for i := range 50 {
		ds = append(ds, Deposit{To: PeerAddress(bob.id), Envelope: sealTo(t, ann, bob, fmt.Sprintf("m%02d", i), "kept")})
	}
	if got, err := ac.DepositAll(context.Background(), info.ID, ds); err != nil || len(got) != 50 {
		t.Fatalf("deposits: %d, %v", len(got), err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	r := &rig{t: t, dir: dir, mbox: loopbackHost(t, mustKey(t))}
	srv, err := NewServer(Config{Host: r.mbox, Dir: dir})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer srv.Close()
	r.srv = srv
	got := r.fetchAll(r.client(bob), bob)
	if len(got) != 50 || got[0] != "m00:kept" || got[49] != "m49:kept" {
		t.Errorf("after SIGKILL bob got %d: %v", len(got), got)
	}
}

func mustKey(t testing.TB) lcrypto.PrivKey {
	k, _, err := lcrypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMailboxChild is the mailbox process of TestSIGKILLLosesNothing; it serves until
// killed.
func TestMailboxChild(t *testing.T) {
	dir := os.Getenv("MAILBOX_CHILD_DIR")
	if dir == "" {
		t.Skip("run by TestSIGKILLLosesNothing")
	}
	h := loopbackHost(t, mustKey(t))
	if _, err := NewServer(Config{Host: h, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("MAILBOX %s/p2p/%s\n", h.Addrs()[0], h.ID())
	select {}
}

// TestCloseEndsOpenStreams: Close does not wait for idle clients' streams to time out,
// and leaves no goroutine of its own behind.
func TestCloseEndsOpenStreams(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newRig(t, Config{})
	c := r.client(newIdent(t))
	k, err := c.open(context.Background(), r.mbox.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.ask(context.Background(), AppendStatus(nil, StatusReq{To: PeerAddress(c.Host.ID())}), TypeCounts); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(IdleTimeout / 2):
		t.Fatal("Close waited for an idle stream")
	}
	k.close()
	c.Host.Close()
	r.mbox.Close()
	for i := 0; i < 100 && runtime.NumGoroutine() > before+5; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
}
