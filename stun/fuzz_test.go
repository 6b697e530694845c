package stun

import (
	"net/netip"
	"testing"

	pstun "github.com/pion/stun/v3"
)

// FuzzAnswer feeds arbitrary datagrams to answer: it must not panic, and any reply must be a
// well-formed Binding success for the request's transaction carrying the source address, and
// small (bounded amplification).
func FuzzAnswer(f *testing.F) {
	f.Add(goldenRequest, false, uint16(32853))
	f.Add(pstun.MustBuild(pstun.TransactionID, pstun.BindingRequest, pstun.NewSoftware("x"), pstun.Fingerprint).Raw, true, uint16(1))
	for _, b := range junk() {
		f.Add(b, false, uint16(3478))
	}
	f.Fuzz(func(t *testing.T, req []byte, v6 bool, port uint16) {
		src := netip.AddrPortFrom(netip.MustParseAddr("198.18.0.2"), port|1)
		if v6 {
			src = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::2"), port|1)
		}
		res := answer(req, src)
		if res == nil {
			return
		}
		if len(res) > 64 {
			t.Fatalf("reply of %d bytes to a %d-byte request", len(res), len(req))
		}
		var in pstun.Message
		in.Raw = req
		if err := in.Decode(); err != nil || in.Type != pstun.BindingRequest {
			t.Fatalf("answered a datagram that is not a binding request (%v, %v)", in.Type, err)
		}
		got, err := parseReply(res, in.TransactionID)
		if err != nil || got != src {
			t.Fatalf("reply reads as %v, %v; want %v", got, err, src)
		}
	})
}
