package mailbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/wire"
)

// DefaultTimeout bounds each request and its answer on a Client's stream.
const DefaultTimeout = 10 * time.Second

// Errors of a mailbox's answers, for callers to branch on (errors.Is). Whatever the
// error, a depositor keeps its message queued locally.
var (
	ErrFull        = errors.New("the mailbox is full")
	ErrQuota       = errors.New("our share at this mailbox is used up")
	ErrTooLarge    = errors.New("the envelope is too large for this mailbox")
	ErrNotAllowed  = errors.New("the mailbox does not allow this")
	ErrRateLimited = errors.New("the mailbox is rate-limiting us")
	ErrUnsupported = errors.New("the mailbox does not serve this kind of address")
	ErrFailed      = errors.New("the mailbox failed")
)

// StatusError is the error of a status: nil for StatusOK.
func StatusError(st Status) error {
	switch st {
	case StatusOK:
		return nil
	case StatusFull:
		return ErrFull
	case StatusQuota:
		return ErrQuota
	case StatusTooLarge:
		return ErrTooLarge
	case StatusNotAllowed:
		return ErrNotAllowed
	case StatusRateLimited:
		return ErrRateLimited
	case StatusUnsupported:
		return ErrUnsupported
	}
	return fmt.Errorf("%w (status %d); try again later", ErrFailed, st)
}

// Client talks to mailboxes from a libp2p host.
type Client struct {
	Host    host.Host
	Timeout time.Duration // per request and answer; 0: DefaultTimeout
	// Frames, if set, bounds the large frames (MAIL pages) read from mailboxes at once.
	Frames *wire.Budget
}

// conn is one stream to a mailbox.
type conn struct {
	st      network.Stream
	r       *wire.Reader
	timeout time.Duration
}

func (c *Client) open(ctx context.Context, mbox peer.ID) (*conn, error) {
	t := c.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	st, err := c.Host.NewStream(ctx, mbox, ProtocolID)
	if err != nil {
		return nil, fmt.Errorf("open a mailbox stream to %s: %w", mbox, err)
	}
	return &conn{st: st, r: wire.StreamReader(st, c.Frames, 4096), timeout: t}, nil
}

func (k *conn) close() { k.r.Release(); k.st.Close() }

// ask writes one request frame and reads its answer, of type want.
func (k *conn) ask(ctx context.Context, req []byte, want byte) ([]byte, error) {
	d := time.Now().Add(k.timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	k.st.SetDeadline(d)
	if _, err := k.st.Write(req); err != nil {
		k.st.Reset()
		return nil, fmt.Errorf("mailbox request: %w", err)
	}
	t, p, err := k.r.ReadTyped(answerLimit)
	if err != nil {
		k.st.Reset()
		return nil, fmt.Errorf("mailbox answer: %w", err)
	}
	if t != want {
		k.st.Reset()
		return nil, fmt.Errorf("%w: %w 0x%02x, want 0x%02x", ErrMalformed, errUnexpected, t, want)
	}
	return p, nil
}

// Deposit leaves one envelope at the mailbox mbox. A refusal is an error wrapping one of
// the Err values above, with the answer.
func (c *Client) Deposit(ctx context.Context, mbox peer.ID, d Deposit) (Deposited, error) {
	out, err := c.DepositAll(ctx, mbox, []Deposit{d})
	if len(out) == 0 {
		return Deposited{}, err
	}
	return out[0], err
}

// DepositAll leaves envelopes one after the other on one stream and stops at the first
// refusal or failure. It returns the answers received (the accepted deposits and the
// refusal), and the error of the one that stopped it.
func (c *Client) DepositAll(ctx context.Context, mbox peer.ID, ds []Deposit) ([]Deposited, error) {
	k, err := c.open(ctx, mbox)
	if err != nil {
		return nil, err
	}
	defer k.close()
	out := make([]Deposited, 0, len(ds))
	var buf []byte
	for _, d := range ds {
		p, err := k.ask(ctx, AppendDeposit(buf[:0], d), TypeDeposited)
		if err != nil {
			return out, err
		}
		ans, err := DecodeDeposited(p)
		if err != nil {
			return out, err
		}
		out = append(out, ans)
		if err := StatusError(ans.Status); err != nil {
			return out, fmt.Errorf("deposit at %s: %w", mbox, err)
		}
	}
	return out, nil
}

// Fetch reads all mail held for to at mbox after the envelope after, in deposit order,
// and hands each envelope to deliver. For a peer (the caller's own address) each page's
// delivered envelopes are then acknowledged, which deletes them: deliver must return
// only once the envelope is safely stored (or dropped on purpose, when it does not
// open). A deliver error stops the fetch; what was delivered before it is still acked.
// Room mail (secret set) is never acked: the caller keeps the returned last id as its
// cursor. It returns the last id delivered (after if none) and how many were delivered.
func (c *Client) Fetch(ctx context.Context, mbox peer.ID, to Address, secret []byte, after uint64, deliver func(Item) error) (uint64, int, error) {
	k, err := c.open(ctx, mbox)
	if err != nil {
		return after, 0, err
	}
	defer k.close()
	n := 0
	for {
		m, err := c.page(ctx, k, Fetch{To: to, After: after, Limit: MaxPage, Secret: secret})
		if err != nil {
			return after, n, err
		}
		var done []uint64
		var derr error
		for _, it := range m.Items {
			if it.ID <= after {
				return after, n, fmt.Errorf("%w: envelope %d out of order (after %d)", ErrMalformed, it.ID, after)
			}
			if derr = deliver(it); derr != nil {
				break
			}
			done = append(done, it.ID)
			after = it.ID
			n++
		}
		if to.Kind == KindPeer && len(done) > 0 {
			if err := c.ack(ctx, k, to, done); err != nil {
				return after, n, err
			}
		}
		if derr != nil {
			return after, n, fmt.Errorf("deliver mail from %s: %w", mbox, derr)
		}
		if !m.More || len(m.Items) == 0 { // "more" with an empty page would loop forever
			return after, n, nil
		}
	}
}

func (c *Client) page(ctx context.Context, k *conn, f Fetch) (Mail, error) {
	p, err := k.ask(ctx, AppendFetch(nil, f), TypeMail)
	if err != nil {
		return Mail{}, err
	}
	m, err := DecodeMail(p)
	if err != nil {
		return m, err
	}
	if err := StatusError(m.Status); err != nil {
		return m, fmt.Errorf("fetch mail for %s: %w", f.To, err)
	}
	for i := range m.Items { // the reader's buffer is reused for the next frame
		m.Items[i].Envelope = append([]byte(nil), m.Items[i].Envelope...)
	}
	return m, nil
}

func (c *Client) ack(ctx context.Context, k *conn, to Address, ids []uint64) error {
	p, err := k.ask(ctx, AppendAck(nil, Ack{To: to, IDs: ids}), TypeAcked)
	if err != nil {
		return err
	}
	a, err := DecodeAcked(p)
	if err != nil {
		return err
	}
	if err := StatusError(a.Status); err != nil {
		return fmt.Errorf("acknowledge mail for %s: %w", to, err)
	}
	return nil
}

// Status asks mbox how much it holds for r.To (the caller's own address, or a room with
// its secret).
func (c *Client) Status(ctx context.Context, mbox peer.ID, r StatusReq) (Counts, error) {
	k, err := c.open(ctx, mbox)
	if err != nil {
		return Counts{}, err
	}
	defer k.close()
	p, err := k.ask(ctx, AppendStatus(nil, r), TypeCounts)
	if err != nil {
		return Counts{}, err
	}
	cnt, err := DecodeCounts(p)
	if err != nil {
		return cnt, err
	}
	return cnt, StatusError(cnt.Status)
}

// PeerAddress is the address of one peer's mail.
func PeerAddress(p peer.ID) Address { return Address{Kind: KindPeer, ID: []byte(p)} }

// RoomAddress is the address of a room's mail.
func RoomAddress(roomID []byte) Address { return Address{Kind: KindRoom, ID: roomID} }
