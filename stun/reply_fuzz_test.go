package stun

import (
	"errors"
	"testing"

	pstun "github.com/pion/stun/v3"
)

// FuzzParseReply feeds arbitrary datagrams, as any host on the path could send them, to
// the client's reply parser: it must not panic, must ignore (errNotOurs) anything for
// another transaction, and what it accepts is a valid address and port.
func FuzzParseReply(f *testing.F) {
	f.Add(mustHex(goldenReply))
	f.Add(goldenRequest)
	f.Add(pstun.MustBuild(pstun.NewTransactionIDSetter(goldenTxID), pstun.BindingError,
		&pstun.ErrorCodeAttribute{Code: 400, Reason: []byte("Bad Request")}).Raw)
	f.Add(pstun.MustBuild(pstun.NewTransactionIDSetter(goldenTxID), pstun.BindingSuccess,
		&pstun.MappedAddress{IP: []byte{198, 18, 0, 9}, Port: 4747}).Raw)
	for _, b := range junk() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseReply(b, goldenTxID)
		if err != nil {
			return
		}
		if !got.IsValid() || got.Port() == 0 {
			t.Fatalf("accepted an invalid address %v", got)
		}
		var m pstun.Message
		m.Raw = append([]byte(nil), b...)
		if m.Decode() != nil || m.TransactionID != goldenTxID || m.Type != pstun.BindingSuccess {
			t.Fatalf("accepted a datagram that is not our Binding success: %x", b)
		}
		if _, err := parseReply(b, [12]byte{1}); !errors.Is(err, errNotOurs) {
			t.Fatalf("the same datagram answers another transaction: %v", err)
		}
	})
}
