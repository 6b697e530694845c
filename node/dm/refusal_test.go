package dm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/ratelimit"
)

// An ACK that refuses a message for a stranger-budget reason carries field 3; an ACK
// without a reason is byte for byte what older nodes send (goldenAckHex).
const goldenRefusalHex = "17020a10303132333435363738396162636465661002" + "1802"

func TestRefusalGoldenBytes(t *testing.T) {
	a := Ack{ID: goldenMessage.ID, Status: AckRejected, Reason: ReasonStrangers}
	if got := hex.EncodeToString(AppendAck(nil, a)); got != goldenRefusalHex {
		t.Errorf("refusal ACK\n got %s\nwant %s", got, goldenRefusalHex)
	}
	b, _ := hex.DecodeString(goldenRefusalHex)
	_, p, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParseAck(p); err != nil || got != a {
		t.Errorf("ParseAck(golden refusal) = %+v, %v; want %+v", got, err, a)
	}
	// What an older node sees: the status it knows, the unknown field skipped.
	if old := oldParseAck(t, p); old.Status != AckRejected || old.ID != a.ID {
		t.Errorf("an older node reads the refusal as %+v", old)
	}
	// An older node's refusal (no reason) reads as rejected with no reason.
	old := AppendAck(nil, Ack{ID: "x", Status: AckRejected})
	_, p, _ = ReadFrame(bufio.NewReader(bytes.NewReader(old)))
	if got, err := ParseAck(p); err != nil || got != (Ack{ID: "x", Status: AckRejected}) {
		t.Errorf("an old refusal parses as %+v, %v", got, err)
	}
}

// oldParseAck is the ACK decoder of nodes before refusal reasons (fields 1 and 2 only,
// as released), to show that they still understand a refusal.
func oldParseAck(t *testing.T, p []byte) Ack {
	t.Helper()
	var a Ack
	for len(p) > 0 {
		num, typ, n := protowire.ConsumeTag(p)
		if n < 0 {
			t.Fatalf("tag: %v", protowire.ParseError(n))
		}
		p = p[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(p)
			a.ID, n = string(v), m
		case num == 2 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(p)
			a.Status, n = AckStatus(v), m
		default:
			n = protowire.ConsumeFieldValue(num, typ, p)
		}
		if n < 0 {
			t.Fatalf("field %d: %v", num, protowire.ParseError(n))
		}
		p = p[n:]
	}
	return a
}

func TestRefusalReasonsParse(t *testing.T) {
	ack := func(reason uint64) []byte {
		p := protowire.AppendTag(nil, 1, protowire.BytesType)
		p = protowire.AppendString(p, "id")
		p = protowire.AppendTag(p, 2, protowire.VarintType)
		p = protowire.AppendVarint(p, uint64(AckRejected))
		p = protowire.AppendTag(p, 3, protowire.VarintType)
		return protowire.AppendVarint(p, reason)
	}
	for in, want := range map[uint64]Reason{1: ReasonRate, 2: ReasonStrangers, 9: Reason(9), 1 << 40: ReasonNone} {
		got, err := ParseAck(ack(in))
		if err != nil || got.Reason != want {
			t.Errorf("reason %d parses as %v, %v; want %v (a reason a node does not know is a plain refusal)", in, got.Reason, err, want)
		}
	}
	for _, r := range []Reason{ReasonNone, ReasonRate, ReasonStrangers, Reason(9)} {
		if r.String() == "" {
			t.Errorf("reason %d has no text", r)
		}
	}
}

// fullInbox refuses every message as a full strangers' budget would.
type fullInbox struct{ memInbox }

func (b *fullInbox) Deliver(context.Context, peer.ID, Message) (AckStatus, error) {
	return 0, fmt.Errorf("strangers' share used up: %w", ErrInboxFull)
}

// TestInboxFullIsARefusal: when the inbox says it is full, the sender is answered with a
// refusal that names the strangers' budget (not a reset), its stream stays open for the
// next frame, and Send reports ErrRefused so the sender keeps the message queued.
func TestInboxFullIsARefusal(t *testing.T) {
	recvHost, sender := loopbackHost(t), loopbackHost(t)
	recv := New(recvHost, &fullInbox{}, slog.New(slog.DiscardHandler))
	defer recv.Close()
	connect(t, sender, recvHost)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := sender.NewStream(ctx, recvHost.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(st)
	for i := range 2 { // the second on the same stream: a refusal does not end it
		id := fmt.Sprint("m", i)
		if _, err := st.Write(AppendMessage(nil, Message{ID: id, SentAt: time.Now(), Text: "hello"})); err != nil {
			t.Fatal(err)
		}
		typ, p, err := ReadFrame(r)
		if err != nil || typ != TypeAck {
			t.Fatalf("answer %d: type %d, %v; want an ACK", i, typ, err)
		}
		if a, err := ParseAck(p); err != nil || a != (Ack{ID: id, Status: AckRejected, Reason: ReasonStrangers}) {
			t.Fatalf("answer %d: %+v, %v; want a refusal for the strangers' budget", i, a, err)
		}
	}
	s := New(sender, &memInbox{msgs: map[string]peer.ID{}}, slog.New(slog.DiscardHandler))
	ack, err := s.Send(ctx, recvHost.ID(), Message{ID: "via-send", SentAt: time.Now(), Text: "hi"})
	if !errors.Is(err, ErrRefused) || ack.Reason != ReasonStrangers || !strings.Contains(err.Error(), "contact") {
		t.Fatalf("Send to a full inbox: %+v, %v; want ErrRefused naming the strangers' budget", ack, err)
	}
	t.Logf("the sender is told: %v", err)
}

// TestRateRefusalSaysSo: a frame over the per-peer rate limit is refused with ReasonRate.
func TestRateRefusalSaysSo(t *testing.T) {
	recvHost, sender := loopbackHost(t), loopbackHost(t)
	lim := ratelimit.New[peer.ID](ratelimit.Config{Rate: 0.001, Burst: 1})
	recv := New(recvHost, &memInbox{msgs: map[string]peer.ID{}}, slog.New(slog.DiscardHandler), WithLimiter(lim))
	defer recv.Close()
	connect(t, sender, recvHost)
	s := New(sender, &memInbox{msgs: map[string]peer.ID{}}, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if _, err := s.Send(ctx, recvHost.ID(), Message{ID: "a", SentAt: time.Now(), Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	ack, err := s.Send(ctx, recvHost.ID(), Message{ID: "b", SentAt: time.Now(), Text: "hi"})
	if !errors.Is(err, ErrRefused) || ack.Reason != ReasonRate {
		t.Fatalf("over the rate: %+v, %v; want ErrRefused with ReasonRate", ack, err)
	}
}

// FuzzParseAck: an ACK decoder never panics, and what it accepts re-encodes to the same
// value.
func FuzzParseAck(f *testing.F) {
	for _, a := range []Ack{{ID: "abc"}, {ID: "x", Status: AckDuplicate}, {ID: "y", Status: AckRejected, Reason: ReasonStrangers}} {
		_, p, _ := ReadFrame(bufio.NewReader(bytes.NewReader(AppendAck(nil, a))))
		f.Add(p)
	}
	f.Add([]byte{0x10, 0x07, 0x0a, 0x01, 'a'})
	f.Add([]byte{0x0a, 0x01, 'a', 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, p []byte) {
		a, err := ParseAck(p)
		if err != nil {
			return
		}
		_, q, err := ReadFrame(bufio.NewReader(bytes.NewReader(AppendAck(nil, a))))
		if err != nil {
			t.Fatalf("re-read of an accepted ACK %+v: %v", a, err)
		}
		if back, err := ParseAck(q); err != nil || back != a {
			t.Fatalf("accepted ACK does not round-trip: %+v -> %+v (%v)", a, back, err)
		}
	})
}
