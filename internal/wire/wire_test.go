package wire

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestWalkFields(t *testing.T) {
	var p []byte
	p = protowire.AppendTag(p, 1, protowire.BytesType)
	p = protowire.AppendString(p, "ab")
	p = protowire.AppendTag(p, 2, protowire.VarintType)
	p = protowire.AppendVarint(p, 300)
	p = protowire.AppendTag(p, 3, protowire.Fixed32Type)
	p = protowire.AppendFixed32(p, 7)
	var got []string
	err := WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		got = append(got, string(rune('0'+num))+":"+string(b)+":"+string(rune('0'+v%10)))
		return nil
	})
	if err != nil || len(got) != 3 || got[0] != "1:ab:0" || got[1] != "2::0" {
		t.Errorf("fields %v, err %v", got, err)
	}
	for _, bad := range [][]byte{{0x0b}, {0x0a, 0x05, 'a'}, {0x10}, {0xff}} {
		if err := WalkFields(bad, func(protowire.Number, uint64, []byte) error { return nil }); !errors.Is(err, ErrMalformed) {
			t.Errorf("WalkFields(%x) = %v, want ErrMalformed", bad, err)
		}
	}
}

func FuzzWalkFields(f *testing.F) {
	f.Add([]byte{0x0a, 0x01, 'a', 0x10, 0x01})
	f.Fuzz(func(t *testing.T, p []byte) {
		WalkFields(p, func(protowire.Number, uint64, []byte) error { return nil })
	})
}
