// Package wire holds what Parley's protocols share on the wire: the one reader of their
// length-prefixed frames (Reader: caps, memory reserved with the stream's
// resource-manager scope, a Budget of large reads, progress deadlines; see reader.go),
// and decoding protobuf-encoded frame payloads by hand
// (google.golang.org/protobuf/encoding/protowire, no generated code).
package wire

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed wraps every decoding failure of a peer's frame, in every protocol.
var ErrMalformed = errors.New("malformed frame")

// WalkFields calls f for every field of a protobuf payload. Varint fields get v, bytes
// fields get b; fixed-width fields are skipped; groups are malformed.
func WalkFields(p []byte, f func(num protowire.Number, v uint64, b []byte) error) error {
	for len(p) > 0 {
		num, typ, n := protowire.ConsumeTag(p)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		p = p[n:]
		var v uint64
		var b []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(p)
		case protowire.BytesType:
			b, n = protowire.ConsumeBytes(p)
		case protowire.Fixed32Type, protowire.Fixed64Type:
			n = protowire.ConsumeFieldValue(num, typ, p)
		default:
			return fmt.Errorf("%w: field %d has wire type %d", ErrMalformed, num, typ)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(n))
		}
		p = p[n:]
		if err := f(num, v, b); err != nil {
			return err
		}
	}
	return nil
}
