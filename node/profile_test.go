package node

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func TestProfileGoldenBytes(t *testing.T) {
	const want = "050a03416e6e" // length 5, field 1 "Ann"
	if got := hex.EncodeToString(appendProfile(nil, profile{Name: "Ann"})); got != want {
		t.Errorf("profile frame %s, want %s", got, want)
	}
	p, err := readProfile(bufio.NewReader(bytes.NewReader(appendProfile(nil, profile{Name: "Zoë"}))))
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
		if _, err := readProfile(bufio.NewReader(bytes.NewReader(in))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzReadProfile(f *testing.F) {
	f.Add(appendProfile(nil, profile{Name: "Ann"}))
	f.Add([]byte{0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0x03, 0x0a, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := readProfile(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			return
		}
		back, err := readProfile(bufio.NewReader(bytes.NewReader(appendProfile(nil, p))))
		if err != nil || back != p {
			t.Fatalf("accepted profile does not round-trip: %+v -> %+v, %v", p, back, err)
		}
	})
}
