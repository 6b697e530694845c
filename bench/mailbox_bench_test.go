package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-im/parley/mailbox"
)

// mailboxDirEnv names the store directory of the "mailbox" helper role: a mailbox server
// on one core (GOMAXPROCS=1) on a loopback host, which prints its address and serves
// until killed.
const mailboxDirEnv = "PARLEY_BENCH_MAILBOX_DIR"

func init() { helperRoles["mailbox"] = runMailboxHelper }

func runMailboxHelper() error {
	runtime.GOMAXPROCS(1)
	priv, _, _ := lcrypto.GenerateEd25519Key(nil)
	h, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		return err
	}
	big := mailbox.Quota{Count: 1 << 30, Bytes: 1 << 40}
	_, err = mailbox.NewServer(mailbox.Config{Host: h, Dir: os.Getenv(mailboxDirEnv),
		IsContact: func(peer.ID) bool { return true },
		Quotas:    mailbox.Quotas{Total: big, RecipientContact: big, DepositorContact: big}})
	if err != nil {
		return err
	}
	fmt.Printf("MAILBOX %s/p2p/%s\n", h.Addrs()[0], h.ID())
	select {}
}

// startMailboxHelper starts the helper on dir and returns its process and address.
func startMailboxHelper(b *testing.B, dir string) (*exec.Cmd, peer.AddrInfo) {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=mailbox", mailboxDirEnv+"="+dir)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "MAILBOX "); ok {
			info, err := peer.AddrInfoFromP2pAddr(ma.StringCast(a))
			if err != nil {
				b.Fatal(err)
			}
			return cmd, *info
		}
	}
	b.Fatal("the mailbox helper did not start")
	return nil, peer.AddrInfo{}
}

type mbPerson struct {
	priv lcrypto.PrivKey
	id   peer.ID
	key  *mailbox.Key
	host host.Host
}

func newMBPerson(b *testing.B) *mbPerson {
	priv, _, _ := lcrypto.GenerateEd25519Key(nil)
	id, _ := peer.IDFromPrivateKey(priv)
	k, err := mailbox.DeriveKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	return &mbPerson{priv, id, k, h}
}

// BenchmarkMailbox: a mailbox server process on one core (GOMAXPROCS=1, loopback, TCP,
// the default libp2p security) is filled with 100,000 envelopes (sealed letters with 200
// bytes of text, ~0.5 KiB each) for 100 recipients, one of whom (Bob) has 1,000, from
// one client over one stream per 1,000 deposits: the deposit rate is that of the whole
// round trip, each deposit committed to SQLite before its answer. Then the server is
// restarted on its store (100,000 held), Bob fetches, opens and acks his 1,000, and the
// server's VmRSS is read. Targets: RSS < 100 MB with 100,000 held; deposit-to-fetch of
// 1,000 < 1 s (the fetch here; the node's archive writes come on top); deposits per
// second on one core: no target, printed.
func BenchmarkMailbox(b *testing.B) {
	const held, bobs, others = 100_000, 1_000, 99
	dir := b.TempDir()
	cmd, mb := startMailboxHelper(b, dir)
	ann, bob := newMBPerson(b), newMBPerson(b)
	ctx := context.Background()
	if err := ann.host.Connect(ctx, mb); err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("x", 200)
	seal := func(to *mbPerson, i int) []byte {
		env, err := mailbox.Seal(ann.priv, mailbox.Letter{To: to.id, ID: fmt.Sprintf("m%06d", i), CreatedAt: time.Now(), Body: []byte(text)}, to.key.Binding())
		if err != nil {
			b.Fatal(err)
		}
		return env
	}
	var rest []*mbPerson
	for range others {
		rest = append(rest, newMBPerson(b))
	}
	other := make([][]byte, others) // one sealed letter per other recipient, deposited many times
	for i, p := range rest {
		other[i] = seal(p, i)
	}
	cl := &mailbox.Client{Host: ann.host, Timeout: 30 * time.Second}
	var batch []mailbox.Deposit
	envBytes := 0
	start := time.Now()
	for i := range held {
		var d mailbox.Deposit
		if i%(held/bobs) == 0 {
			d = mailbox.Deposit{To: mailbox.PeerAddress(bob.id), Envelope: seal(bob, i)}
		} else {
			d = mailbox.Deposit{To: mailbox.PeerAddress(rest[i%others].id), Envelope: other[i%others]}
		}
		envBytes += len(d.Envelope)
		if batch = append(batch, d); len(batch) == 1000 || i == held-1 {
			if _, err := cl.DepositAll(ctx, mb.ID, batch); err != nil {
				b.Fatalf("deposit %d: %v", i, err)
			}
			batch = batch[:0]
		}
	}
	fill := time.Since(start)
	rssFilled, _ := RSS(cmd.Process.Pid)
	hwmFilled, _ := PeakRSS(cmd.Process.Pid)
	cmd.Process.Kill()
	cmd.Wait()

	cmd, mb = startMailboxHelper(b, dir)
	if err := bob.host.Connect(ctx, mb); err != nil {
		b.Fatal(err)
	}
	bc := &mailbox.Client{Host: bob.host, Timeout: 30 * time.Second}
	start = time.Now()
	n := 0
	_, _, err := bc.Fetch(ctx, mb.ID, mailbox.PeerAddress(bob.id), nil, 0, func(it mailbox.Item) error {
		if _, err := bob.key.Open(it.Envelope); err != nil {
			return err
		}
		n++
		return nil
	})
	fetch := time.Since(start)
	if err != nil || n != bobs {
		b.Fatalf("bob fetched %d, %v", n, err)
	}
	rss, _ := RSS(cmd.Process.Pid)
	hwm, _ := PeakRSS(cmd.Process.Pid)
	db, _ := os.Stat(dir + "/" + mailbox.DBFile)
	fmt.Printf("\nBenchmarkMailbox (server on one core, loopback; envelopes %d B on average)\n", envBytes/held)
	fmt.Printf("  %-58s %14s   %s\n", "", "measured", "target")
	fmt.Printf("  %-58s %14.0f   %s\n", "deposits per second (one stream per 1,000, committed)", float64(held)/fill.Seconds(), "(none; printed)")
	fmt.Printf("  %-58s %14s   %s\n", "server VmRSS after 100,000 deposits (VmHWM "+MB(hwmFilled)+")", MB(rssFilled), "< 100 MB")
	fmt.Printf("  %-58s %14s   %s\n", "restarted server holding 100,000: VmRSS (VmHWM "+MB(hwm)+")", MB(rss), "< 100 MB")
	fmt.Printf("  %-58s %14s   %s\n", "fetch+open+ack of Bob's 1,000 held (fresh process)", fetch.Round(time.Millisecond), "< 1 s")
	if db != nil {
		fmt.Printf("  %-58s %14s\n", "store file (mailbox.db, before the WAL is folded in)", MB(db.Size()))
	}
}
