package room

import (
	"bytes"
	"encoding/hex"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
)

// statePeer is a fixed, valid binary peer ID: an identity multihash of n.
func statePeer(n byte) peer.ID { return peer.ID([]byte{0x00, 0x02, 'p', n}) }

// stateNonce is the golden state's room nonce.
var stateNonce = [16]byte{0: 0x5e, 15: 0xed}

// createdBy returns r as made by creator with nonce: its ID derived from both.
func createdBy(r Room, creator peer.ID, nonce [16]byte) Room {
	r.Creator, r.Nonce = creator, nonce
	r.ID = DeriveID(creator, nonce)
	return r
}

// goldenState is goldenRoom's name, key and epoch in a room that statePeer(1) created
// with stateNonce.
func goldenState() Room {
	r := goldenRoom.Clone()
	r.Announce = true
	r.Version = 7
	for _, n := range []byte{3, 1, 2} {
		r.Members[statePeer(n)] = struct{}{}
	}
	r.Owners[statePeer(2)] = struct{}{}
	r.Owners[statePeer(1)] = struct{}{}
	return createdBy(r, statePeer(1), stateNonce)
}

const (
	goldenStateHex = "0a10" + goldenDerivedIDHex + "12036f70731a20010000000000000000000000000000000000000000000000000000000000000220032801" +
		"320400027001320400027002320400027003" + "3a04000270013a0400027002" +
		"420400027001" + "4a105e0000000000000000000000000000ed" + "5007"
	goldenInviteHex = "08011275" + goldenStateHex
	goldenLeftHex   = "08031a10" + goldenDerivedIDHex
	goldenAskHex    = "08041a10" + goldenDerivedIDHex
)

func equalState(a, b Room) bool {
	return a.ID == b.ID && a.Creator == b.Creator && a.Nonce == b.Nonce && a.Version == b.Version && a.Name == b.Name && a.Key == b.Key && a.Epoch == b.Epoch && a.Announce == b.Announce &&
		maps.Equal(a.Members, b.Members) && maps.Equal(a.Owners, b.Owners)
}

// goldenDerivedIDHex is DeriveID(statePeer(1), stateNonce), computed apart from Go:
// sha256(b"parley/room-id/1" + bytes([0, 2, 0x70, 1]) + stateNonce)[:16].
const goldenDerivedIDHex = "e90b2ece4cabf32dfdf70f578dd996b4"

func TestDeriveID(t *testing.T) {
	if got := DeriveID(statePeer(1), stateNonce).String(); got != goldenDerivedIDHex {
		t.Errorf("DeriveID = %s, want %s", got, goldenDerivedIDHex)
	}
	other := stateNonce
	other[0]++
	for name, id := range map[string]ID{
		"other creator": DeriveID(statePeer(2), stateNonce),
		"other nonce":   DeriveID(statePeer(1), other),
	} {
		if id.String() == goldenDerivedIDHex {
			t.Errorf("%s derives the same ID", name)
		}
	}
	r, err := New("n", statePeer(1), false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Creator != statePeer(1) || r.ID != DeriveID(r.Creator, r.Nonce) || r.Nonce == ([16]byte{}) || r.Version != 1 {
		t.Errorf("New: creator %s, nonce %x, version %d, id derives: %v", r.Creator, r.Nonce, r.Version, r.ID == DeriveID(r.Creator, r.Nonce))
	}
	if _, err := ParseState(AppendState(nil, r)); err != nil {
		t.Errorf("a new room's state does not parse: %v", err)
	}
}

func TestRotateBumpsVersionKeepsCreator(t *testing.T) {
	r := goldenState()
	next, err := r.Rotate(statePeer(3))
	if err != nil {
		t.Fatal(err)
	}
	if next.Epoch != r.Epoch+1 || next.Version != r.Version+1 || next.Creator != r.Creator || next.Nonce != r.Nonce || next.ID != r.ID {
		t.Errorf("rotated: epoch %d, version %d, creator %s", next.Epoch, next.Version, next.Creator)
	}
	if _, err := r.Rotate(statePeer(2), r.Creator); err == nil {
		t.Error("Rotate removed the room's creator")
	}
}

func TestGoldenState(t *testing.T) {
	enc := AppendState(nil, goldenState())
	if got := hex.EncodeToString(enc); got != goldenStateHex {
		t.Errorf("state\n got %s\nwant %s", got, goldenStateHex)
	}
	r, err := ParseState(enc)
	if err != nil || !equalState(r, goldenState()) {
		t.Errorf("ParseState = %+v, %v", r, err)
	}
	plain := goldenState()
	plain.Announce = false
	if r, err := ParseState(AppendState(nil, plain)); err != nil || !equalState(r, plain) {
		t.Errorf("without announce: %+v, %v", r, err)
	}
}

func TestGoldenInvite(t *testing.T) {
	for _, c := range []struct {
		inv Invite
		hex string
	}{
		{Invite{Kind: KindInvite, State: goldenState()}, goldenInviteHex},
		{Invite{Kind: KindLeft, State: Room{ID: goldenState().ID}}, goldenLeftHex},
		{Invite{Kind: KindAsk, State: Room{ID: goldenState().ID}}, goldenAskHex},
	} {
		enc := AppendInvite(nil, c.inv)
		if got := hex.EncodeToString(enc); got != c.hex {
			t.Errorf("%v\n got %s\nwant %s", c.inv.Kind, got, c.hex)
		}
		inv, err := ParseInvite(enc)
		if err != nil || inv.Kind != c.inv.Kind || inv.State.ID != c.inv.State.ID {
			t.Errorf("%v: ParseInvite = %+v, %v", c.inv.Kind, inv, err)
		}
	}
	// A left notice carries the ID only, whatever else the Room holds.
	if got := AppendInvite(nil, Invite{Kind: KindLeft, State: goldenState()}); hex.EncodeToString(got) != goldenLeftHex {
		t.Errorf("left notice with a full state encodes %x", got)
	}
	up := Invite{Kind: KindUpdate, State: goldenState()}
	if inv, err := ParseInvite(AppendInvite(nil, up)); err != nil || inv.Kind != KindUpdate || !equalState(inv.State, up.State) {
		t.Errorf("update: %+v, %v", inv, err)
	}
}

// bigState is a valid state with n members, the first of them the owner and creator.
func bigState(n int) Room {
	r := goldenRoom.Clone()
	for i := range n {
		p := peer.ID(append([]byte{0x00, 0x04}, byte(i>>8), byte(i), 'm', 'm'))
		r.Members[p] = struct{}{}
		if i == 0 {
			r.Owners[p] = struct{}{}
			r = createdBy(r, p, stateNonce)
		}
	}
	return r
}

// longPeer is a valid peer ID of MaxAuthorLen bytes: an identity multihash of 126 bytes.
func longPeer(n int) peer.ID {
	d := make([]byte, MaxAuthorLen-2)
	d[0], d[1] = byte(n>>8), byte(n)
	return peer.ID(append([]byte{0x00, byte(len(d))}, d...))
}

func TestStateLimits(t *testing.T) {
	if r, err := ParseState(AppendState(nil, bigState(MaxMembers))); err != nil || len(r.Members) != MaxMembers {
		t.Errorf("%d members: %d, %v", MaxMembers, len(r.Members), err)
	}
	if _, err := ParseState(AppendState(nil, bigState(MaxMembers+1))); !errors.Is(err, ErrMalformed) {
		t.Errorf("%d members: %v, want ErrMalformed", MaxMembers+1, err)
	}
	// The worst case that is allowed fits MaxState: every member an owner, every ID as
	// long as allowed.
	worst := goldenRoom.Clone()
	worst.Name = strings.Repeat("n", MaxName)
	worst.Announce = true
	for i := range MaxMembers {
		p := longPeer(i)
		if len(p) != MaxAuthorLen {
			t.Fatalf("long peer ID is %d bytes", len(p))
		}
		worst.Members[p] = struct{}{}
		worst.Owners[p] = struct{}{}
	}
	worst.Version = ^uint64(0)
	worst = createdBy(worst, longPeer(0), stateNonce)
	enc := AppendState(nil, worst)
	if r, err := ParseState(enc); err != nil || len(r.Owners) != MaxMembers {
		t.Errorf("worst case of %d bytes: %v", len(enc), err)
	}
	if _, err := ParseState(make([]byte, MaxState+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized state: %v, want ErrTooLarge", err)
	}
	if _, err := ParseInvite(make([]byte, MaxInvite+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized invite: %v, want ErrTooLarge", err)
	}
}

func TestParseStateRejects(t *testing.T) {
	mod := func(f func(r *Room)) []byte {
		r := goldenState().Clone()
		f(&r)
		return AppendState(nil, r)
	}
	valid := AppendState(nil, goldenState())
	field := func(num protowire.Number, b []byte) []byte {
		out := protowire.AppendTag(bytes.Clone(valid), num, protowire.BytesType)
		return protowire.AppendBytes(out, b)
	}
	varint := func(num protowire.Number, v uint64) []byte {
		out := protowire.AppendTag(bytes.Clone(valid), num, protowire.VarintType)
		return protowire.AppendVarint(out, v)
	}
	cases := map[string][]byte{
		"empty":               nil,
		"empty name":          mod(func(r *Room) { r.Name = "" }),
		"long name":           mod(func(r *Room) { r.Name = strings.Repeat("x", MaxName+1) }),
		"control in name":     mod(func(r *Room) { r.Name = "a\nb" }),
		"bad utf8 name":       mod(func(r *Room) { r.Name = "\xff" }),
		"epoch 0":             mod(func(r *Room) { r.Epoch = 0 }),
		"no owner":            mod(func(r *Room) { r.Owners = nil }),
		"owner not member":    mod(func(r *Room) { r.Owners[statePeer(9)] = struct{}{} }),
		"bad member id":       mod(func(r *Room) { r.Members["garbage"] = struct{}{} }),
		"short room id":       field(1, []byte{1, 2, 3}),
		"short key":           field(3, make([]byte, 31)),
		"announce 2":          varint(5, 2),
		"announce as bytes":   field(5, []byte{1}),
		"member as varint":    varint(6, 1),
		"repeated member":     field(6, []byte(statePeer(1))),
		"repeated owner":      field(7, []byte(statePeer(1))),
		"huge member id":      field(6, []byte(longPeer(0)+"x")),
		"truncated":           valid[:len(valid)-1],
		"group":               append(bytes.Clone(valid), 0x0b),
		"no epoch":            valid[:bytes.Index(valid, []byte{0x20, 0x03})],
		"no creator or nonce": valid[:bytes.Index(valid, []byte{0x42, 0x04})],
		"no nonce":            valid[:bytes.Index(valid, []byte{0x4a, 0x10})],
		"short nonce":         field(9, make([]byte, 15)),
		"bad creator id":      field(8, []byte("garbage")),
		"huge creator id":     field(8, []byte(longPeer(0)+"x")),
		"version as bytes":    field(10, []byte{1}),
		// The ID derives, but the creator is no longer an owner.
		"creator not owner": mod(func(r *Room) { *r = createdBy(*r, statePeer(3), stateNonce) }),
	}
	for name, in := range cases {
		if _, err := ParseState(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// Someone else claims a known room: its ID with another creator (itself the only
	// owner), or with the real creator but another nonce, or a made-up ID.
	forged := map[string][]byte{
		"other creator": mod(func(r *Room) {
			r.Members[statePeer(9)] = struct{}{}
			r.Owners = map[peer.ID]struct{}{statePeer(9): {}}
			r.Creator = statePeer(9)
		}),
		"other nonce": mod(func(r *Room) { r.Nonce[0] ^= 1 }),
		"forged id":   mod(func(r *Room) { r.ID[0] ^= 1 }),
	}
	for name, in := range forged {
		if _, err := ParseState(in); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "room id does not match its creator") {
			t.Errorf("%s: %v, want ErrMalformed: room id does not match its creator", name, err)
		}
	}
	unknown := append(bytes.Clone(valid), 0x5a, 0x01, 'z', 0x60, 0x07) // fields 11 and 12
	if r, err := ParseState(unknown); err != nil || !equalState(r, goldenState()) {
		t.Errorf("unknown fields: %v", err)
	}
}

func TestParseInviteRejects(t *testing.T) {
	state := AppendState(nil, goldenState())
	enc := func(kind uint64, fields ...[]byte) []byte {
		b := protowire.AppendTag(nil, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, kind)
		for i, f := range fields {
			if f == nil {
				continue
			}
			b = protowire.AppendTag(b, protowire.Number(i+2), protowire.BytesType)
			b = protowire.AppendBytes(b, f)
		}
		return b
	}
	id := goldenRoom.ID[:]
	cases := map[string][]byte{
		"empty":             nil,
		"kind 0":            enc(0, state),
		"ask with state":    enc(4, state, id),
		"kind 5":            enc(5, nil, id),
		"no kind":           enc(1, state)[2:],
		"invite no state":   enc(1),
		"invite with id":    enc(1, state, id),
		"update bad state":  enc(2, state[:len(state)-1]),
		"left with state":   enc(3, state, id),
		"left no id":        enc(3),
		"left short id":     enc(3, nil, id[:15]),
		"kind as bytes":     {0x0a, 0x01, 0x01},
		"state as varint":   {0x08, 0x01, 0x10, 0x01},
		"two states":        append(enc(1, state), enc(1, state)[2:]...),
		"truncated":         enc(1, state)[:10],
		"bad state in left": enc(3, []byte{0xff}, id),
	}
	for name, in := range cases {
		if _, err := ParseInvite(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzParseState: never panic, never accept a state that breaks a limit, and whatever is
// accepted re-encodes to the same state.
func FuzzParseState(f *testing.F) {
	f.Add(AppendState(nil, goldenState()))
	f.Add(AppendState(nil, bigState(3)))
	f.Add([]byte{0x32, 0x02, 0x00, 0x00})                      // an empty identity peer ID
	f.Add(append(AppendState(nil, goldenState()), 0x28, 0x07)) // announce 7
	f.Add(make([]byte, MaxState+1))
	forged := goldenState()
	forged.ID[0] ^= 1
	f.Add(AppendState(nil, forged))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseState(in)
		if err != nil {
			return
		}
		if ValidateName(r.Name) != nil || r.Epoch == 0 || len(r.Members) > MaxMembers || len(r.Owners) == 0 {
			t.Fatalf("accepted an invalid state: %+v", r)
		}
		if r.ID != DeriveID(r.Creator, r.Nonce) || !r.IsOwner(r.Creator) {
			t.Fatalf("accepted a state whose ID does not derive from its owning creator: %+v", r)
		}
		for p := range r.Owners {
			if !r.IsMember(p) {
				t.Fatalf("accepted owner %s who is not a member", p)
			}
		}
		back, err := ParseState(AppendState(nil, r))
		if err != nil || !equalState(back, r) {
			t.Fatalf("accepted state does not round-trip: %v", err)
		}
	})
}

// FuzzParseInvite: never panic, and whatever is accepted round-trips.
func FuzzParseInvite(f *testing.F) {
	f.Add(AppendInvite(nil, Invite{Kind: KindInvite, State: goldenState()}))
	f.Add(AppendInvite(nil, Invite{Kind: KindUpdate, State: bigState(5)}))
	f.Add(AppendInvite(nil, Invite{Kind: KindLeft, State: Room{ID: goldenRoom.ID}}))
	f.Add(AppendInvite(nil, Invite{Kind: KindAsk, State: Room{ID: goldenRoom.ID}}))
	f.Add([]byte{0x08, 0x04, 0x12, 0x00}) // an ask with a state
	f.Add([]byte{0x08, 0x05, 0x1a, 0x00}) // an unknown kind
	f.Add([]byte{0x08, 0x03, 0x12, 0x00})
	f.Add([]byte{0x08, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		inv, err := ParseInvite(in)
		if err != nil {
			return
		}
		back, err := ParseInvite(AppendInvite(nil, inv))
		if err != nil || back.Kind != inv.Kind || !equalState(back.State, inv.State) {
			t.Fatalf("accepted invite does not round-trip: %+v -> %+v (%v)", inv, back, err)
		}
	})
}
