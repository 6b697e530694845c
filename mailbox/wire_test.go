package mailbox

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/wire"
)

var (
	goldenAddr = Address{Kind: KindPeer, ID: []byte("peer-id-bytes")}
	goldenRoom = Address{Kind: KindRoom, ID: []byte("room")}
	goldenTime = time.Unix(1_700_000_000, 5)
)

// goldenFrames are the frames of this protocol's version 1.0.0; a change here breaks
// every deployed mailbox.
var goldenFrames = []struct {
	name string
	got  []byte
	hex  string
}{
	{"DEPOSIT", AppendDeposit(nil, Deposit{To: goldenAddr, Envelope: []byte("sealed"), TTL: 90 * time.Second}),
		"1c010801120d706565722d69642d62797465731a067365616c6564205a"},
	{"DEPOSIT room", AppendDeposit(nil, Deposit{To: goldenRoom, Envelope: []byte("x"), Secret: []byte("0123456789abcdef")}),
		"1e0108021204726f6f6d1a01782a1030313233343536373839616263646566"},
	{"FETCH", AppendFetch(nil, Fetch{To: goldenAddr, After: 300, Limit: 50}),
		"1702080112 0d706565722d69642d6279746573 18ac02 2032"},
	{"ACK", AppendAck(nil, Ack{To: goldenAddr, IDs: []uint64{1, 2, 300}}),
		"1903080112 0d706565722d69642d6279746573 1801 1802 18ac02"},
	{"STATUS", AppendStatus(nil, StatusReq{To: goldenAddr}),
		"1204080112 0d706565722d69642d6279746573"},
	{"DEPOSITED", AppendDeposited(nil, Deposited{Status: StatusOK, ID: 7, Expires: goldenTime}),
		"0d81 1007 188580a8b1e39fe7cb17"},
	{"DEPOSITED full", AppendDeposited(nil, Deposited{Status: StatusFull}), "038108 01"},
	{"MAIL", AppendMail(nil, Mail{Items: []Item{{ID: 7, Envelope: []byte("ab"), Deposited: goldenTime, Expires: goldenTime}}, More: true}),
		"1f82 121a 0807 12026162 188580a8b1e39fe7cb17 208580a8b1e39fe7cb17 1801"},
	{"ACKED", AppendAcked(nil, Acked{Deleted: 3}), "038310 03"},
	{"COUNTS", AppendCounts(nil, Counts{Count: 2, Bytes: 1000, Oldest: goldenTime}),
		"1084 1002 18e807 208580a8b1e39fe7cb17"},
}

func TestGoldenFrames(t *testing.T) {
	for _, g := range goldenFrames {
		want := stripSpaces(g.hex)
		if got := hex.EncodeToString(g.got); got != want {
			t.Errorf("%s frame\n got %s\nwant %s", g.name, got, want)
		}
	}
}

func stripSpaces(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)) }

// readFrame decodes one whole frame from b, as a stream reader would.
func readFrame(t testing.TB, b []byte, limit func(byte) int) (byte, []byte) {
	t.Helper()
	typ, p, err := wire.NewReader(bytes.NewReader(b), wire.Config{}).ReadTyped(limit)
	if err != nil {
		t.Fatalf("read frame %x: %v", b, err)
	}
	return typ, append([]byte(nil), p...)
}

func TestRequestsRoundTrip(t *testing.T) {
	reqs := []Request{
		{Deposit: &Deposit{To: goldenAddr, Envelope: []byte("sealed"), TTL: time.Hour}},
		{Deposit: &Deposit{To: goldenRoom, Envelope: []byte("sealed"), Secret: []byte("0123456789abcdef")}},
		{Fetch: &Fetch{To: goldenAddr, After: 9, Limit: 3}},
		{Ack: &Ack{To: goldenAddr, IDs: []uint64{4, 5}}},
		{Status: &StatusReq{To: goldenRoom, Secret: []byte("s")}},
	}
	for _, r := range reqs {
		var b []byte
		switch {
		case r.Deposit != nil:
			b = AppendDeposit(nil, *r.Deposit)
		case r.Fetch != nil:
			b = AppendFetch(nil, *r.Fetch)
		case r.Ack != nil:
			b = AppendAck(nil, *r.Ack)
		default:
			b = AppendStatus(nil, *r.Status)
		}
		typ, p := readFrame(t, b, requestLimit)
		got, err := DecodeRequest(typ, p)
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("round trip of %x: %+v, %v", b, got, err)
		}
	}
}

func TestAnswersRoundTrip(t *testing.T) {
	m := Mail{Items: []Item{{ID: 1, Envelope: []byte("a"), Deposited: goldenTime, Expires: goldenTime}, {ID: 2, Envelope: []byte("b")}}, More: true}
	_, p := readFrame(t, AppendMail(nil, m), answerLimit)
	if got, err := DecodeMail(p); err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("MAIL: %+v, %v", got, err)
	}
	c := Counts{Status: StatusOK, Count: 3, Bytes: 9, Oldest: goldenTime}
	_, p = readFrame(t, AppendCounts(nil, c), answerLimit)
	if got, err := DecodeCounts(p); err != nil || !got.Oldest.Equal(c.Oldest) || got.Count != 3 || got.Bytes != 9 {
		t.Errorf("COUNTS: %+v, %v", got, err)
	}
}

func TestMalformedRequests(t *testing.T) {
	bad := map[string][]byte{
		"no envelope":     AppendDeposit(nil, Deposit{To: goldenAddr}),
		"no address":      AppendFetch(nil, Fetch{}),
		"long address id": AppendStatus(nil, StatusReq{To: Address{Kind: KindPeer, ID: make([]byte, MaxAddressID+1)}}),
		"long secret":     AppendFetch(nil, Fetch{To: goldenRoom, Secret: make([]byte, MaxRoomSecret+1)}),
		"too many ids":    AppendAck(nil, Ack{To: goldenAddr, IDs: make([]uint64, MaxAckIDs+1)}),
	}
	for name, b := range bad {
		typ, p, err := wire.NewReader(bytes.NewReader(b), wire.Config{}).ReadTyped(func(byte) int { return 1 << 20 })
		if err == nil {
			_, err = DecodeRequest(typ, p)
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// TestFrameCapBeforeAllocating: a length over the type's cap is refused before the body
// is read, and an unknown type is refused whatever its length.
func TestFrameCapBeforeAllocating(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f, TypeDeposit} // 4 GiB claimed, nothing sent
	if _, _, err := wire.NewReader(bytes.NewReader(huge), wire.Config{}).ReadTyped(requestLimit); !errors.Is(err, ErrMalformed) {
		t.Errorf("a 4 GiB claim: %v", err)
	}
	if _, _, err := wire.NewReader(bytes.NewReader([]byte{2, 0x7f, 0}), wire.Config{}).ReadTyped(requestLimit); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown type: %v", err)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, g := range goldenFrames[:5] {
		f.Add(g.got)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, p, err := wire.NewReader(bytes.NewReader(b), wire.Config{}).ReadTyped(requestLimit)
		if err != nil {
			return
		}
		r, err := DecodeRequest(typ, p)
		if err != nil {
			return
		}
		switch {
		case r.Deposit != nil:
			if len(r.Deposit.Envelope) == 0 || r.Deposit.To.valid() != nil {
				t.Fatalf("accepted %+v", r.Deposit)
			}
		case r.Ack != nil:
			if len(r.Ack.IDs) > MaxAckIDs {
				t.Fatalf("accepted %d ids", len(r.Ack.IDs))
			}
		}
	})
}

func FuzzDecodeAnswer(f *testing.F) {
	for _, g := range goldenFrames[5:] {
		f.Add(g.got)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, p, err := wire.NewReader(bytes.NewReader(b), wire.Config{}).ReadTyped(answerLimit)
		if err != nil {
			return
		}
		switch typ {
		case TypeDeposited:
			DecodeDeposited(p)
		case TypeMail:
			if m, err := DecodeMail(p); err == nil {
				for _, it := range m.Items {
					if it.ID == 0 || len(it.Envelope) == 0 || len(it.Envelope) > MaxEnvelope {
						t.Fatalf("accepted item %+v", it)
					}
				}
			}
		case TypeAcked:
			DecodeAcked(p)
		case TypeCounts:
			DecodeCounts(p)
		default:
			t.Fatalf("type 0x%02x passed the cap", typ)
		}
	})
}
