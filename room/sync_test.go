package room

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
)

var goldenSyncRequest = SyncRequest{
	Room:  goldenRoom.ID,
	Since: time.Unix(1700000000, 0).UTC(),
	After: CursorOf(goldenMsg),
	Limit: 50,
}

const (
	goldenSyncRequestHex = "0a10110000000000000000000000000000ff" + "108080a8b1e39fe7cb17" +
		"1a27082a108580a8b1e39fe7cb171a07000568656c6c6f2210aa0000000000000000000000000000bb" + "2032"
	goldenSyncPageHex = "0a2b" + goldenMessageHex + "1001"
)

func equalRequest(a, b SyncRequest) bool {
	return a.Room == b.Room && a.Since.Equal(b.Since) && a.Limit == b.Limit &&
		a.After.Lamport == b.After.Lamport && a.After.Clock.Equal(b.After.Clock) &&
		a.After.Author == b.After.Author && a.After.ID == b.After.ID
}

func TestGoldenSyncRequest(t *testing.T) {
	enc := AppendSyncRequest(nil, goldenSyncRequest)
	if got := hex.EncodeToString(enc); got != goldenSyncRequestHex {
		t.Errorf("request\n got %s\nwant %s", got, goldenSyncRequestHex)
	}
	r, err := ParseSyncRequest(enc)
	if err != nil || !equalRequest(r, goldenSyncRequest) {
		t.Errorf("ParseSyncRequest = %+v, %v", r, err)
	}
	// The smallest request: a room, from the start, a full page.
	min := AppendSyncRequest(nil, SyncRequest{Room: goldenRoom.ID})
	if got := hex.EncodeToString(min); got != "0a10110000000000000000000000000000ff" {
		t.Errorf("minimal request: %s", got)
	}
	r, err = ParseSyncRequest(min)
	if err != nil || !r.Since.IsZero() || !r.After.IsZero() || r.Limit != MaxSyncPage {
		t.Errorf("minimal request: %+v, %v", r, err)
	}
}

func TestGoldenSyncPage(t *testing.T) {
	page := SyncPage{Messages: []Message{goldenMsg}, More: true}
	enc := AppendSyncPage(nil, page)
	if got := hex.EncodeToString(enc); got != goldenSyncPageHex {
		t.Errorf("page\n got %s\nwant %s", got, goldenSyncPageHex)
	}
	back, err := ParseSyncPage(enc)
	if err != nil || !back.More || !slices.EqualFunc(back.Messages, page.Messages, equalMsg) {
		t.Errorf("ParseSyncPage = %+v, %v", back, err)
	}
	// Signatures travel in full.
	signedPage := SyncPage{Messages: []Message{goldenSigned(t)}}
	back, err = ParseSyncPage(AppendSyncPage(nil, signedPage))
	if err != nil || len(back.Messages) != 1 || back.Messages[0].VerifyAuthor(goldenRoom.ID) != nil {
		t.Errorf("signed page: %+v, %v", back, err)
	}
	if back, err := ParseSyncPage(nil); err != nil || len(back.Messages) != 0 || back.More {
		t.Errorf("empty page: %+v, %v", back, err)
	}
}

func TestCursor(t *testing.T) {
	var zero Cursor
	if !zero.IsZero() || !zero.Before(goldenMsg) || !zero.Before(Message{}) {
		t.Error("the zero cursor is not before everything")
	}
	c := CursorOf(goldenMsg)
	if c.IsZero() || c.Before(goldenMsg) {
		t.Error("a message's cursor is before the message itself")
	}
	later := []func(*Message){
		func(m *Message) { m.Lamport++ },
		func(m *Message) { m.Clock = m.Clock.Add(1) },
		func(m *Message) { m.Author += "z" },
		func(m *Message) { m.ID[15]++ },
	}
	for i, f := range later {
		m := goldenMsg
		f(&m)
		if !c.Before(m) {
			t.Errorf("key %d: a later message is not after the cursor", i)
		}
		if CursorOf(m).Before(goldenMsg) {
			t.Errorf("key %d: an earlier message is after the cursor", i)
		}
	}
}

// history is n signed-looking messages in Compare order, each text bytes long.
func history(n, text int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = goldenMsg
		msgs[i].Lamport = uint64(i + 1)
		msgs[i].Text = strings.Repeat("x", text)
		msgs[i].Sig = bytes.Repeat([]byte{1}, 64)
	}
	return msgs
}

// TestPageOfWalksHistory pages through a history the way a responder and an asker would,
// and checks every message arrives once and in order, under both limits.
func TestPageOfWalksHistory(t *testing.T) {
	for _, c := range []struct {
		n, text, limit, wantPages int
	}{
		{0, 1, 0, 1},
		{250, 1, 0, 3},
		{250, 1, 7, 36},
		{100, MaxText, 0, 4}, // 31 messages of ~32 KiB fit a MiB
	} {
		all := history(c.n, c.text)
		var got []Message
		var after Cursor
		pages := 0
		for {
			var rest []Message
			for _, m := range all {
				if after.Before(m) {
					rest = append(rest, m)
				}
			}
			enc := AppendSyncPage(nil, PageOf(rest, c.limit))
			if len(enc) > MaxSyncPageBytes {
				t.Fatalf("page of %d bytes", len(enc))
			}
			page, err := ParseSyncPage(enc)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			got = append(got, page.Messages...)
			if !page.More {
				break
			}
			if len(page.Messages) == 0 {
				t.Fatal("an empty page says there is more")
			}
			after = CursorOf(page.Messages[len(page.Messages)-1])
		}
		if !slices.EqualFunc(got, all, equalMsg) || pages != c.wantPages {
			t.Errorf("%+v: %d of %d messages in %d pages", c, len(got), len(all), pages)
		}
	}
}

func TestParseSyncRequestRejects(t *testing.T) {
	valid := AppendSyncRequest(nil, goldenSyncRequest)
	room := valid[:18]
	with := func(fields ...byte) []byte { return append(bytes.Clone(room), fields...) }
	cursor := func(c Cursor, drop protowire.Number) []byte {
		var b []byte // c's encoding without field drop
		enc := appendCursor(nil, c)
		for len(enc) > 0 {
			num, _, n := protowire.ConsumeField(enc)
			if num != drop {
				b = append(b, enc[:n]...)
			}
			enc = enc[n:]
		}
		return protowire.AppendBytes(protowire.AppendTag(bytes.Clone(room), 3, protowire.BytesType), b)
	}
	cases := map[string][]byte{
		"empty":              nil,
		"no room":            valid[18:],
		"short room":         {0x0a, 0x01, 0x00},
		"limit 0":            with(0x20, 0x00),
		"limit over max":     with(0x20, MaxSyncPage+1),
		"limit as bytes":     with(0x22, 0x01, 0x01),
		"since as bytes":     with(0x12, 0x01, 0x01),
		"cursor as varint":   with(0x18, 0x01),
		"cursor no author":   cursor(goldenSyncRequest.After, 3),
		"cursor no id":       cursor(goldenSyncRequest.After, 4),
		"cursor no clock":    cursor(goldenSyncRequest.After, 2),
		"cursor short id":    with(0x1a, 0x02, 0x22, 0x00),
		"cursor huge author": cursor(Cursor{Author: peer.ID(strings.Repeat("a", MaxAuthorLen+1)), Clock: time.Unix(1, 0)}, 0),
		"truncated":          valid[:len(valid)-1],
	}
	for name, in := range cases {
		if _, err := ParseSyncRequest(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := ParseSyncRequest(make([]byte, MaxSyncRequest+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized request: %v, want ErrTooLarge", err)
	}
	for _, limit := range []uint64{1, MaxSyncPage} {
		if r, err := ParseSyncRequest(with(0x20, byte(limit))); err != nil || r.Limit != int(limit) {
			t.Errorf("limit %d: %+v, %v", limit, r, err)
		}
	}
	// The largest request is within MaxSyncRequest.
	big := goldenSyncRequest
	big.After.Author = peer.ID(strings.Repeat("a", MaxAuthorLen))
	big.After.Lamport = ^uint64(0)
	if enc := AppendSyncRequest(nil, big); len(enc) > MaxSyncRequest {
		t.Errorf("the largest request is %d bytes", len(enc))
	} else if _, err := ParseSyncRequest(enc); err != nil {
		t.Errorf("the largest request: %v", err)
	}
}

func TestParseSyncPageRejects(t *testing.T) {
	msgs := history(3, 1)
	page := func(ms ...Message) []byte { return AppendSyncPage(nil, SyncPage{Messages: ms}) }
	cases := map[string][]byte{
		"out of order":      page(msgs[1], msgs[0]),
		"duplicate":         page(msgs[0], msgs[0]),
		"bad message":       {0x0a, 0x01, 0xff},
		"message as varint": {0x08, 0x01},
		"more 2":            {0x10, 0x02},
		"more as bytes":     {0x12, 0x01, 0x01},
		"too many":          page(history(MaxSyncPage+1, 1)...),
		"truncated":         page(msgs...)[:10],
	}
	for name, in := range cases {
		if _, err := ParseSyncPage(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if p, err := ParseSyncPage(page(history(MaxSyncPage, 1)...)); err != nil || len(p.Messages) != MaxSyncPage {
		t.Errorf("a full page: %v", err)
	}
	if _, err := ParseSyncPage(make([]byte, MaxSyncPageBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized page: %v, want ErrTooLarge", err)
	}
}

// FuzzParseSyncRequest: never panic, keep the limits, and round-trip what is accepted.
func FuzzParseSyncRequest(f *testing.F) {
	f.Add(AppendSyncRequest(nil, goldenSyncRequest))
	f.Add(AppendSyncRequest(nil, SyncRequest{Room: goldenRoom.ID}))
	f.Add([]byte{0x1a, 0x00})
	f.Add([]byte{0x20, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(make([]byte, MaxSyncRequest+1))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseSyncRequest(in)
		if err != nil {
			return
		}
		if r.Limit < 1 || r.Limit > MaxSyncPage {
			t.Fatalf("accepted limit %d", r.Limit)
		}
		back, err := ParseSyncRequest(AppendSyncRequest(nil, r))
		if err != nil || !equalRequest(back, r) {
			t.Fatalf("accepted request does not round-trip: %+v -> %+v (%v)", r, back, err)
		}
	})
}

// FuzzParseSyncPage: never panic, keep the limits and the order, and round-trip.
func FuzzParseSyncPage(f *testing.F) {
	f.Add(AppendSyncPage(nil, SyncPage{Messages: history(3, 5), More: true}))
	f.Add(AppendSyncPage(nil, SyncPage{Messages: []Message{goldenSigned(f)}}))
	f.Add(AppendSyncPage(nil, SyncPage{Messages: []Message{goldenMsg, goldenMsg}}))
	f.Add([]byte{0x10, 0x07})
	f.Add([]byte{0x0a, 0x80, 0x80, 0x40})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseSyncPage(in)
		if err != nil {
			return
		}
		if len(p.Messages) > MaxSyncPage || !slices.IsSortedFunc(p.Messages, Compare) {
			t.Fatalf("accepted %d messages, sorted %v", len(p.Messages), slices.IsSortedFunc(p.Messages, Compare))
		}
		back, err := ParseSyncPage(AppendSyncPage(nil, p))
		if err != nil || back.More != p.More || !slices.EqualFunc(back.Messages, p.Messages, equalMsg) {
			t.Fatalf("accepted page does not round-trip: %v", err)
		}
	})
}
