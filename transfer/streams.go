package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/wire"
)

// Timeouts on stream I/O: a peer that vanishes pauses a transfer, never holds a goroutine.
const (
	frameTimeout  = 30 * time.Second // reading or writing one frame, or one chunk's data
	idleTimeout   = 60 * time.Second // a data stream waiting for its next GET
	offerTimeout  = 60 * time.Second // opening a stream, sending an OFFER, reading the ANSWER
	notifyTimeout = 15 * time.Second // DONE or CANCEL and their ACK
)

// handle serves one inbound stream. Its goroutine belongs to libp2p; Close waits for it
// and resets the stream when the Manager closes.
func (m *Manager) handle(st network.Stream) {
	if !m.enter() {
		st.Reset()
		return
	}
	defer m.wg.Done()
	defer onDone(m.ctx, func() { st.Reset() })()
	if err := m.serve(st); err != nil {
		m.log.Debug("file stream reset", "peer", st.Conn().RemotePeer(), "err", err)
		st.Reset()
		return
	}
	st.Close()
}

func (m *Manager) serve(st network.Stream) error {
	r := bufio.NewReaderSize(st, 16<<10)
	fr := wire.NewReader(r, wire.StreamConfig(st, m.frameBudget(st.Conn().RemotePeer())))
	defer fr.Release() // the OFFER's memory is held until it is answered
	st.SetReadDeadline(time.Now().Add(frameTimeout))
	typ, p, err := ReadFrameFrom(fr, MaxOfferFrame)
	if err != nil {
		return err
	}
	switch typ {
	case TypeOffer:
		return m.handleOffer(st, p)
	case TypeGet:
		return m.serveGets(st, fr, p)
	case TypeDone:
		return m.handleDone(st, p)
	case TypeCancel:
		return m.handleCancel(st, p)
	}
	return fmt.Errorf("%w: a stream may not start with frame type 0x%02x", ErrMalformed, byte(typ))
}

// openStream opens a stream to p over a direct connection, or over a relay too when
// the configuration allows it.
func (m *Manager) openStream(ctx context.Context, p peer.ID) (network.Stream, error) {
	if !m.cfg.AllowRelay && m.relayOnly(p) {
		return nil, m.relayError(p)
	}
	if m.cfg.AllowRelay {
		ctx = network.WithAllowLimitedConn(ctx, "parley file transfer")
	}
	st, err := m.cfg.Host.NewStream(ctx, p, ProtocolID)
	if err == nil {
		return st, nil
	}
	if !m.cfg.AllowRelay && m.relayOnly(p) {
		return nil, m.relayError(p)
	}
	return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, shortID(p), err)
}

// relayOnly reports whether every connection to p is limited (relayed).
func (m *Manager) relayOnly(p peer.ID) bool {
	conns := m.cfg.Host.Network().ConnsToPeer(p)
	for _, c := range conns {
		if !c.Stat().Limited {
			return false
		}
	}
	return len(conns) > 0
}

func (m *Manager) relayError(p peer.ID) error {
	return fmt.Errorf("%w: %s has no direct connection to us (allow relayed transfers in the node's settings, "+
		"but a relay's limits, 128 KiB and 2 minutes by default, stop most files)", ErrRelayOnly, shortID(p))
}

// frameBudget is where p's large frames (OFFERs) find a place; nil: no bound.
func (m *Manager) frameBudget(p peer.ID) *wire.Budget {
	if m.cfg.FrameBudget == nil {
		return nil
	}
	return m.cfg.FrameBudget(p)
}

// onDone runs f once ctx is done, unless the returned stop is called first; stop waits
// for an f already started, so no goroutine outlives its caller.
func onDone(ctx context.Context, f func()) (stop func()) {
	ran := make(chan struct{})
	s := context.AfterFunc(ctx, func() {
		defer close(ran)
		f()
	})
	return func() {
		if !s() {
			<-ran
		}
	}
}

// writeFrame writes b with a fresh write deadline.
func writeFrame(st network.Stream, b []byte) error {
	st.SetWriteDeadline(time.Now().Add(frameTimeout))
	_, err := st.Write(b)
	return err
}

// exchange writes frame on st and reads one frame of type want back, all within ctx.
func exchange(ctx context.Context, st network.Stream, frame []byte, want FrameType) ([]byte, error) {
	deadline, _ := ctx.Deadline()
	st.SetDeadline(deadline)
	defer onDone(ctx, func() { st.SetDeadline(time.Now()) })()
	if _, err := st.Write(frame); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	fr := wire.StreamReader(st, nil, 512)
	defer fr.Release()
	typ, p, err := ReadFrameFrom(fr, 0) // replies are never OFFERs
	if err != nil {
		return nil, fmt.Errorf("read reply: %w", err)
	}
	if typ != want {
		return nil, fmt.Errorf("%w: expected frame type 0x%02x, got 0x%02x", ErrMalformed, byte(want), byte(typ))
	}
	return p, nil
}

// request opens a stream to p, writes frame and reads a reply of type want.
func (m *Manager) request(ctx context.Context, p peer.ID, frame []byte, want FrameType) ([]byte, error) {
	st, err := m.openStream(ctx, p)
	if err != nil {
		return nil, err
	}
	reply, err := exchange(ctx, st, frame, want)
	if err != nil {
		st.Reset()
		return nil, err
	}
	st.Close()
	return reply, nil
}

// handleCancel: the peer canceled a transfer of ours with it.
func (m *Manager) handleCancel(st network.Stream, p []byte) error {
	c, err := ParseCancel(p)
	if err != nil {
		return err
	}
	if t := m.get(c.ID); t != nil && t.peer == st.Conn().RemotePeer() {
		m.cancelLocal(t, joinReason("canceled by the peer", c.Reason))
	}
	return writeFrame(st, AppendAck(nil, Ack{ID: c.ID}))
}

// sendCancel tells t's peer that we canceled t, if it can be reached.
func (m *Manager) sendCancel(t *transfer) {
	ctx, cancel := context.WithTimeout(m.ctx, notifyTimeout)
	defer cancel()
	frame := AppendCancel(nil, Cancel{ID: t.id, Reason: "canceled by the user"})
	p, err := m.request(ctx, t.peer, frame, TypeAck)
	if err == nil {
		_, err = ParseAck(p)
	}
	if err != nil {
		m.log.Info("could not tell the peer about a cancel", "id", t.id, "peer", t.peer, "err", err)
	}
}

func joinReason(what, reason string) string {
	if reason == "" {
		return what
	}
	return what + ": " + reason
}

// shortID is a peer ID short enough for messages.
func shortID(p peer.ID) string {
	s := p.String()
	if len(s) > 16 {
		return s[:8] + "…" + s[len(s)-6:]
	}
	return s
}

// isEOF reports a clean end of stream.
func isEOF(err error) bool { return errors.Is(err, io.EOF) }
