package node

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

func TestPunchFrameRoundTrip(t *testing.T) {
	a := ma.StringCast("/ip4/198.18.0.254/udp/4747/quic-v1")
	b := ma.StringCast("/ip4/198.18.0.254/tcp/4747")
	frame := appendPunch(nil, []ma.Multiaddr{a, b})
	got, err := readPunch(bufio.NewReader(bytes.NewReader(frame)))
	if err != nil || len(got) != 2 || !got[0].Equal(a) || !got[1].Equal(b) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	for name, bad := range map[string][]byte{
		"oversized":  binary.AppendUvarint(nil, maxPunchFrame+1),
		"truncated":  {0x05, 0x0a, 0x03},
		"bad addr":   {0x04, 0x0a, 0x02, 0xff, 0xff},
		"empty addr": {0x02, 0x0a, 0x00},
	} {
		if _, err := readPunch(bufio.NewReader(bytes.NewReader(bad))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzReadPunch(f *testing.F) {
	f.Add(appendPunch(nil, []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/udp/1/quic-v1")}))
	f.Add([]byte{0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		addrs, err := readPunch(bufio.NewReader(bytes.NewReader(in)))
		if err == nil && len(addrs) > maxPunchAddrs {
			t.Fatalf("accepted %d addresses", len(addrs))
		}
	})
}
