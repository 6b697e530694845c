package node

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/wire"

	"github.com/parley-im/parley/mailbox"
)

func TestProfileGoldenBytes(t *testing.T) {
	const want = "050a03416e6e" // length 5, field 1 "Ann"
	if got := hex.EncodeToString(appendProfile(nil, profile{Name: "Ann"})); got != want {
		t.Errorf("profile frame %s, want %s", got, want)
	}
	p, err := readProfile(bufio.NewReader(bytes.NewReader(appendProfile(nil, profile{Name: "Zoë"}))), "")
	if err != nil || p.Name != "Zoë" {
		t.Errorf("round trip: %+v, %v", p, err)
	}
}

func TestProfileRejects(t *testing.T) {
	for name, in := range map[string][]byte{
		"oversized length": {0xff, 0xff, 0x03},
		"truncated":        {0x05, 0x0a, 0x03},
		"long name":        appendProfile(nil, profile{Name: strings.Repeat("n", 65)}),
		"bad utf-8":        appendProfile(nil, profile{Name: "\xff"}),
		"bad tag":          {0x01, 0xff},
	} {
		if _, err := readProfile(bufio.NewReader(bytes.NewReader(in)), fuzzOwner); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzReadProfile(f *testing.F) {
	f.Add(appendProfile(nil, profile{Name: "Ann"}))
	f.Add([]byte{0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0x03, 0x0a, 0x01})
	f.Add(appendProfile(nil, mailProfile(f)))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := readProfile(bufio.NewReader(bytes.NewReader(in)), fuzzOwner)
		if err != nil {
			return
		}
		once := appendProfile(nil, p)
		back, err := readProfile(bufio.NewReader(bytes.NewReader(once)), fuzzOwner)
		if err != nil || !bytes.Equal(appendProfile(nil, back), once) {
			t.Fatalf("accepted profile does not round-trip: %+v -> %+v, %v", p, back, err)
		}
	})
}

// fuzzOwner is the peer whose key signs the bindings of mailProfile.
var fuzzOwner, fuzzKey = func() (peer.ID, lcrypto.PrivKey) {
	k, _, err := lcrypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		panic(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return id, k
}()

// mailProfile is a profile with a mailbox key binding and one mailbox, all fixed.
func mailProfile(t testing.TB) profile {
	key, err := mailbox.DeriveKey(fuzzKey)
	if err != nil {
		t.Fatal(err)
	}
	box := peer.AddrInfo{ID: fuzzOwner, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/198.18.0.2/tcp/4747")}}
	return profile{Name: "Ann", Presence: "online", Seq: 3, Mail: peerMail{binding: key.Binding(), boxes: []peer.AddrInfo{box}}}
}

func TestProfileMailGoldenBytes(t *testing.T) {
	frame := appendProfile(nil, mailProfile(t))
	// fields 1-4, then 5 (the binding: 1 KEM 0x20, 2 key, 3 signature) and 6 (1 peer ID, 2 address)
	const want = "ab01" + "0a03416e6e" + "12066f6e6c696e65" + "2003" +
		"2a66" + "082012208121f05abc175c158a29bcafacbbab0577079a032d69289e311b6e941725a15a" +
		"1a4068efbc700be233da68c71d3e1468f72b5f4066a88cfddf47677241015f3c5706e1b84e99ab6601e892ba4b6beccf2f2ee734d7fc063012b783d83d0a70a7c50e" +
		"3232" + "0a26002408011220ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c" + "120804c612000206128b"
	if got := hex.EncodeToString(frame); got != want {
		t.Errorf("profile frame with mailboxes\n%s, want\n%s", got, want)
	}
	// A node without mailboxes reads the same frame: its cap is oldProfileFrame, and
	// fields 5 and 6 are unknown to it (skipped).
	var oldNames []string
	wire.WalkFields(frame[2:], func(num protowire.Number, _ uint64, b []byte) error {
		if num == 1 {
			oldNames = append(oldNames, string(b))
		}
		return nil
	})
	if len(oldNames) != 1 || oldNames[0] != "Ann" {
		t.Errorf("an old reader sees names %q", oldNames)
	}
	p, err := readProfile(bufio.NewReader(bytes.NewReader(frame)), fuzzOwner)
	if err != nil || p.Name != "Ann" || p.Seq != 3 || len(p.Mail.boxes) != 1 || p.Mail.boxes[0].Addrs[0].String() != "/ip4/198.18.0.2/tcp/4747" {
		t.Fatalf("round trip: %+v, %v", p, err)
	}
	if _, err := readProfile(bufio.NewReader(bytes.NewReader(frame)), "12D3KooWGzh7w1v9nR5Sg3fZrMyMiFq1JbN1rZ9kYQ8dR1Vxk3Kp"); err == nil {
		t.Error("a binding signed by another peer was accepted")
	}
}

func TestProfileWithManyMailboxesFitsOldNodes(t *testing.T) {
	p := mailProfile(t)
	p.Name, p.Status = strings.Repeat("n", 64), strings.Repeat("s", MaxStatusLen)
	for range maxProfileMailboxes - 1 {
		p.Mail.boxes = append(p.Mail.boxes, p.Mail.boxes[0])
	}
	frame := appendProfile(nil, p)
	if len(frame) > oldProfileFrame+2 {
		t.Fatalf("a profile frame of %d bytes: old nodes refuse more than %d", len(frame), oldProfileFrame)
	}
	back, err := readProfile(bufio.NewReader(bytes.NewReader(frame)), fuzzOwner)
	if err != nil || len(back.Mail.boxes) == 0 || len(back.Mail.binding.Public) != 32 {
		t.Fatalf("read back: %+v, %v", back.Mail, err)
	}
}

// FuzzParseMailDetails: the mailbox details of a profile (and as the archive keeps
// them) never crash the parser, and what parses re-encodes to what parses the same.
func FuzzParseMailDetails(f *testing.F) {
	f.Add(appendMailDetails(nil, mailProfile(f).Mail))
	f.Add([]byte{0x32, 0x02, 0x0a, 0x00})
	f.Add([]byte{0x2a, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		pm, err := parseMailDetails(in, fuzzOwner)
		if err != nil {
			return
		}
		once := appendMailDetails(nil, pm)
		back, err := parseMailDetails(once, fuzzOwner)
		if err != nil || !bytes.Equal(appendMailDetails(nil, back), once) {
			t.Fatalf("accepted details do not round-trip: %v", err)
		}
	})
}
