package dm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/wire"
)

// Timeouts on stream I/O: a peer that went away never holds a goroutine for longer.
const (
	IdleTimeout  = 30 * time.Second // waiting for the next MESSAGE on an open stream
	WriteTimeout = 10 * time.Second // writing one frame
	AckTimeout   = 15 * time.Second // from opening a stream to reading the ACK, unless ctx is shorter
)

// Inbox takes a message that arrived from a peer. It must return only once the message
// is stored durably: the ACK that follows promises the sender it will not be lost. An
// error wrapping ErrInboxFull refuses the message for now (the sender is told
// ReasonStrangers and keeps it queued); any other error resets the stream.
type Inbox interface {
	Deliver(ctx context.Context, from peer.ID, m Message) (AckStatus, error)
	// MarkRead records that from's user has seen our messages with these IDs.
	MarkRead(ctx context.Context, from peer.ID, ids []string) error
}

// Service answers and sends direct messages on a libp2p host. Messages are small, so
// they may go over a relayed (limited) connection when no direct one exists.
type Service struct {
	host  host.Host
	inbox Inbox
	log   *slog.Logger
	limit *ratelimit.Limiter[peer.ID] // nil: no limit
}

// Option changes how a Service works.
type Option func(*Service)

// WithLimiter has every inbound MESSAGE and READ frame take a token from the sending
// peer's bucket. A frame over the limit is answered with an ACK of status AckRejected
// and ReasonRate (nothing is stored; an honest sender queues the message and retries
// later), and a peer the limiter calls abusive has its connections closed.
func WithLimiter(l *ratelimit.Limiter[peer.ID]) Option {
	return func(s *Service) { s.limit = l }
}

// New registers the protocol's stream handler on h. Close removes it.
func New(h host.Host, inbox Inbox, log *slog.Logger, opts ...Option) *Service {
	s := &Service{host: h, inbox: inbox, log: log}
	for _, o := range opts {
		o(s)
	}
	h.SetStreamHandler(ProtocolID, s.handle)
	return s
}

// ErrFlooding means a peer went on sending while over its rate limit; its connections
// are closed.
var ErrFlooding = errors.New("peer kept sending over its rate limit; closing its connections")

// Close stops answering new streams. Streams being served end with the host.
func (s *Service) Close() error {
	s.host.RemoveStreamHandler(ProtocolID)
	return nil
}

// handle serves one inbound stream: MESSAGE frames in, ACK frames out.
func (s *Service) handle(st network.Stream) {
	from := st.Conn().RemotePeer()
	if err := s.serve(st, from); err != nil {
		s.log.Warn("direct-message stream reset", "peer", from, "err", err)
		st.Reset()
		return
	}
	st.Close()
}

func (s *Service) serve(st network.Stream, from peer.ID) error {
	fr := wire.StreamReader(st, nil, 4096)
	defer fr.Release()
	for {
		st.SetReadDeadline(time.Now().Add(IdleTimeout))
		typ, payload, err := ReadFrameFrom(fr)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		ack, err := s.limitedAnswer(from, typ, payload)
		if errors.Is(err, ErrFlooding) {
			s.host.Network().ClosePeer(from)
		}
		if err != nil {
			return err
		}
		st.SetWriteDeadline(time.Now().Add(WriteTimeout))
		if _, err := st.Write(AppendAck(nil, ack)); err != nil {
			return fmt.Errorf("write ack: %w", err)
		}
	}
}

// limitedAnswer answers a frame, or refuses it when from is over its rate limit: a
// refused frame that parses gets an AckRejected, and an abusive peer gets ErrFlooding.
func (s *Service) limitedAnswer(from peer.ID, typ FrameType, payload []byte) (Ack, error) {
	if s.limit == nil {
		return s.answer(from, typ, payload)
	}
	d := s.limit.Allow(from)
	if d.Allowed {
		return s.answer(from, typ, payload)
	}
	if d.FirstRefusal() || d.Abusive {
		s.log.Warn("peer over its direct-message rate limit; refusing its frames",
			"peer", from, "refused", d.Refused, "closing", d.Abusive)
	}
	if d.Abusive {
		return Ack{}, ErrFlooding
	}
	id, err := frameID(typ, payload)
	return Ack{ID: id, Status: AckRejected, Reason: ReasonRate}, err
}

// frameID is the ID an ACK of a MESSAGE or READ frame carries.
func frameID(typ FrameType, payload []byte) (string, error) {
	switch typ {
	case TypeMessage:
		m, err := ParseMessage(payload)
		return m.ID, err
	case TypeRead:
		r, err := ParseRead(payload)
		if err != nil {
			return "", err
		}
		return r.IDs[0], nil
	}
	return "", fmt.Errorf("%w: unexpected frame type 0x%02x", ErrMalformed, byte(typ))
}

// answer handles one MESSAGE or READ frame and returns its ACK (for a READ, the ACK
// carries the first ID).
func (s *Service) answer(from peer.ID, typ FrameType, payload []byte) (Ack, error) {
	switch typ {
	case TypeMessage:
		m, err := ParseMessage(payload)
		if err != nil {
			return Ack{}, err
		}
		status, err := s.deliver(from, m)
		if errors.Is(err, ErrInboxFull) {
			return Ack{ID: m.ID, Status: AckRejected, Reason: ReasonStrangers}, nil
		}
		return Ack{ID: m.ID, Status: status}, err
	case TypeRead:
		r, err := ParseRead(payload)
		if err != nil {
			return Ack{}, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), WriteTimeout)
		defer cancel()
		if err := s.inbox.MarkRead(ctx, from, r.IDs); err != nil {
			return Ack{}, fmt.Errorf("record read receipt: %w", err)
		}
		return Ack{ID: r.IDs[0], Status: AckStored}, nil
	}
	return Ack{}, fmt.Errorf("%w: unexpected frame type 0x%02x", ErrMalformed, byte(typ))
}

func (s *Service) deliver(from peer.ID, m Message) (AckStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), WriteTimeout)
	defer cancel()
	status, err := s.inbox.Deliver(ctx, from, m)
	if err != nil {
		return 0, fmt.Errorf("store message %s: %w", m.ID, err)
	}
	return status, nil
}

// Send delivers m to peer p on a new stream and waits for its ACK. An ACK with status
// AckRejected is returned with an error wrapping ErrRefused that says why.
func (s *Service) Send(ctx context.Context, p peer.ID, m Message) (Ack, error) {
	if err := m.Validate(); err != nil {
		return Ack{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, AckTimeout)
	defer cancel()
	st, err := s.host.NewStream(network.WithAllowLimitedConn(ctx, "parley dm"), p, ProtocolID)
	if err != nil {
		return Ack{}, fmt.Errorf("open stream: %w", err)
	}
	ack, err := exchange(ctx, st, m)
	if err != nil {
		st.Reset()
		return Ack{}, err
	}
	st.Close()
	if ack.Status == AckRejected {
		return ack, refusal(ack)
	}
	return ack, nil
}

// SendRead tells peer p that its messages ids were shown to our user, and waits for
// the ACK.
func (s *Service) SendRead(ctx context.Context, p peer.ID, ids []string) error {
	ctx, cancel := context.WithTimeout(ctx, AckTimeout)
	defer cancel()
	st, err := s.host.NewStream(network.WithAllowLimitedConn(ctx, "parley dm"), p, ProtocolID)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	if _, err := roundTrip(ctx, st, AppendRead(nil, Read{IDs: ids}), ids[0]); err != nil {
		st.Reset()
		return err
	}
	st.Close()
	return nil
}

func exchange(ctx context.Context, st network.Stream, m Message) (Ack, error) {
	return roundTrip(ctx, st, AppendMessage(nil, m), m.ID)
}

// roundTrip writes one frame and reads the ACK for id.
func roundTrip(ctx context.Context, st network.Stream, frame []byte, id string) (Ack, error) {
	deadline, _ := ctx.Deadline()
	st.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { st.SetDeadline(time.Now()) })
	defer stop()
	if _, err := st.Write(frame); err != nil {
		return Ack{}, fmt.Errorf("write frame: %w", err)
	}
	fr := wire.StreamReader(st, nil, 256)
	defer fr.Release()
	typ, payload, err := ReadFrameFrom(fr)
	if err != nil {
		return Ack{}, fmt.Errorf("read ack: %w", err)
	}
	if typ != TypeAck {
		return Ack{}, fmt.Errorf("%w: expected ACK, got type 0x%02x", ErrMalformed, byte(typ))
	}
	ack, err := ParseAck(payload)
	if err != nil {
		return Ack{}, err
	}
	if ack.ID != id {
		return Ack{}, fmt.Errorf("%w: ACK for %q while waiting for %q", ErrMalformed, ack.ID, id)
	}
	return ack, nil
}
