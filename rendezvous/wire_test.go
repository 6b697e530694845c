package rendezvous

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

var goldenMessages = []struct {
	name string
	m    Message
	hex  string
}{
	{
		"REGISTER",
		Message{Type: TypeRegister, Register: Register{Namespace: "parley", SignedPeerRecord: []byte("spr"), TTL: 60}},
		"130800120f0a06706172 6c657912037370721 83c",
	},
	{
		"REGISTER_RESPONSE",
		Message{Type: TypeRegisterResponse, RegisterResponse: RegisterResponse{Status: StatusInvalidTTL, StatusText: "no", TTL: 0}},
		"0a08011a060866 12026e6f",
	},
	{
		"UNREGISTER",
		Message{Type: TypeUnregister, Unregister: Unregister{Namespace: "parley"}},
		"0c080222080a06706172 6c6579",
	},
	{
		"DISCOVER",
		Message{Type: TypeDiscover, Discover: Discover{Namespace: "p", Limit: 2, Cookie: []byte{0xc0}}},
		"0c08032a080a0170 10021a01c0",
	},
	{
		"DISCOVER_RESPONSE",
		Message{Type: TypeDiscoverResponse, DiscoverResponse: DiscoverResponse{
			Registrations: []Register{{Namespace: "p", SignedPeerRecord: []byte{1}, TTL: 9}},
			Cookie:        []byte{0xc0},
			Status:        StatusOK,
		}},
		"110804320d0a080a01701201011809 1201c0",
	},
}

// The bytes on the wire are the protocol: changing them breaks every other
// implementation of the spec.
func TestGoldenBytes(t *testing.T) {
	for _, g := range goldenMessages {
		want := stripSpaces(g.hex)
		if got := hex.EncodeToString(AppendMessage(nil, g.m)); got != want {
			t.Errorf("%s frame\n got %s\nwant %s", g.name, got, want)
		}
		back, err := ReadMessage(bufio.NewReader(bytes.NewReader(AppendMessage(nil, g.m))))
		if err != nil || !reflect.DeepEqual(back, g.m) {
			t.Errorf("%s does not round-trip: %+v, %v", g.name, back, err)
		}
	}
}

func stripSpaces(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil))
}

// TestMatchesSpecProto decodes our frames with the protobuf runtime, from a descriptor
// of the spec's rendezvous.proto, and checks that it re-encodes them byte for byte.
func TestMatchesSpecProto(t *testing.T) {
	md := specDescriptor(t)
	for _, g := range goldenMessages {
		body, err := ReadFrame(bufio.NewReader(bytes.NewReader(AppendMessage(nil, g.m))))
		if err != nil {
			t.Fatal(err)
		}
		dm := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(body, dm); err != nil {
			t.Fatalf("%s: protobuf runtime rejects our frame: %v", g.name, err)
		}
		if len(dm.GetUnknown()) != 0 {
			t.Errorf("%s: fields unknown to the spec: %x", g.name, dm.GetUnknown())
		}
		again, err := proto.MarshalOptions{Deterministic: true}.Marshal(dm)
		if err != nil || !bytes.Equal(again, body) {
			t.Errorf("%s: protobuf runtime encodes\n %x\nwe encode\n %x", g.name, again, body)
		}
	}
}

func specDescriptor(t *testing.T) protoreflect.MessageDescriptor {
	t.Helper()
	f := func(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, label descriptorpb.FieldDescriptorProto_Label, msg string) *descriptorpb.FieldDescriptorProto {
		fd := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Type: typ.Enum(), Label: label.Enum()}
		if msg != "" {
			fd.TypeName = proto.String(".rendezvous.pb.Message." + msg)
		}
		return fd
	}
	const (
		str  = descriptorpb.FieldDescriptorProto_TYPE_STRING
		byt  = descriptorpb.FieldDescriptorProto_TYPE_BYTES
		i64  = descriptorpb.FieldDescriptorProto_TYPE_INT64
		enum = descriptorpb.FieldDescriptorProto_TYPE_INT32 // enums travel as varints
		msg  = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		opt  = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
		rep  = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	)
	nested := func(name string, fields ...*descriptorpb.FieldDescriptorProto) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{Name: proto.String(name), Field: fields}
	}
	file := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("rendezvous.proto"),
		Package: proto.String("rendezvous.pb"),
		Syntax:  proto.String("proto2"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Message"),
			Field: []*descriptorpb.FieldDescriptorProto{
				f("type", 1, enum, opt, ""),
				f("register", 2, msg, opt, "Register"),
				f("registerResponse", 3, msg, opt, "RegisterResponse"),
				f("unregister", 4, msg, opt, "Unregister"),
				f("discover", 5, msg, opt, "Discover"),
				f("discoverResponse", 6, msg, opt, "DiscoverResponse"),
			},
			NestedType: []*descriptorpb.DescriptorProto{
				nested("Register", f("ns", 1, str, opt, ""), f("signedPeerRecord", 2, byt, opt, ""), f("ttl", 3, i64, opt, "")),
				nested("RegisterResponse", f("status", 1, enum, opt, ""), f("statusText", 2, str, opt, ""), f("ttl", 3, i64, opt, "")),
				nested("Unregister", f("ns", 1, str, opt, ""), f("id", 2, byt, opt, "")),
				nested("Discover", f("ns", 1, str, opt, ""), f("limit", 2, i64, opt, ""), f("cookie", 3, byt, opt, "")),
				nested("DiscoverResponse", f("registrations", 1, msg, rep, "Register"), f("cookie", 2, byt, opt, ""),
					f("status", 3, enum, opt, ""), f("statusText", 4, str, opt, "")),
			},
		}},
	}
	fd, err := protodesc.NewFile(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Messages().ByName("Message")
}

func TestRejects(t *testing.T) {
	frames := map[string][]byte{
		"zero length":      {0x00},
		"oversized length": binary.AppendUvarint(nil, MaxFrame+1),
		"truncated body":   {0x05, 0x08, 0x00},
		"bad varint":       bytes.Repeat([]byte{0xff}, 11),
	}
	for name, in := range frames {
		if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(in))); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	bodies := map[string][]byte{
		"no body for the type":  {0x08, 0x03},
		"unknown type":          {0x08, 0x09, 0x12, 0x00},
		"register as a varint":  {0x08, 0x00, 0x10, 0x01},
		"ns as a varint":        {0x08, 0x00, 0x12, 0x02, 0x08, 0x01},
		"ttl as bytes":          {0x08, 0x00, 0x12, 0x03, 0x1a, 0x01, 0x00},
		"group":                 {0x08, 0x00, 0x13},
		"truncated registering": {0x08, 0x00, 0x12, 0x05, 0x0a},
	}
	for name, in := range bodies {
		if _, err := ParseMessage(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(nil))); err != io.EOF {
		t.Errorf("empty input: %v, want io.EOF", err)
	}
}

func TestUnknownFieldsSkipped(t *testing.T) {
	g := goldenMessages[0]
	body, _ := ReadFrame(bufio.NewReader(bytes.NewReader(AppendMessage(nil, g.m))))
	body = append(body, 0x3d, 1, 2, 3, 4) // field 7, fixed32
	body = append(body, 0x42, 0x01, 'z')  // field 8, bytes
	m, err := ParseMessage(body)
	if err != nil || !reflect.DeepEqual(m, g.m) {
		t.Errorf("with unknown fields: %+v, %v", m, err)
	}
}

// FuzzReadMessage feeds arbitrary bytes to the decoder: it must never panic, never
// accept a frame over MaxFrame, and anything it accepts must re-encode to an equal
// message.
func FuzzReadMessage(f *testing.F) {
	for _, g := range goldenMessages {
		f.Add(AppendMessage(nil, g.m))
	}
	f.Add([]byte{0x00})
	f.Add(binary.AppendUvarint(nil, MaxFrame+1))
	f.Add([]byte{0x02, 0x08, 0x03})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		for {
			body, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(body) > MaxFrame {
				t.Fatalf("frame of %d bytes passed the cap", len(body))
			}
			m, err := ParseMessage(body)
			if err != nil {
				continue
			}
			back, err := ReadMessage(bufio.NewReader(bytes.NewReader(AppendMessage(nil, m))))
			if err != nil || !equalMessages(m, back) {
				t.Fatalf("accepted message does not round-trip: %+v -> %+v (%v)", m, back, err)
			}
		}
	})
}

// equalMessages compares the parts of two messages their type makes meaningful,
// treating nil and empty byte slices alike.
func equalMessages(a, b Message) bool {
	norm := func(m Message) Message {
		n := Message{Type: m.Type}
		switch m.Type {
		case TypeRegister:
			n.Register = normRegister(m.Register)
		case TypeRegisterResponse:
			n.RegisterResponse = m.RegisterResponse
		case TypeUnregister:
			n.Unregister = Unregister{Namespace: m.Unregister.Namespace, ID: nonNil(m.Unregister.ID)}
		case TypeDiscover:
			n.Discover = Discover{Namespace: m.Discover.Namespace, Limit: m.Discover.Limit, Cookie: nonNil(m.Discover.Cookie)}
		case TypeDiscoverResponse:
			d := m.DiscoverResponse
			n.DiscoverResponse = DiscoverResponse{Cookie: nonNil(d.Cookie), Status: d.Status, StatusText: d.StatusText}
			for _, r := range d.Registrations {
				n.DiscoverResponse.Registrations = append(n.DiscoverResponse.Registrations, normRegister(r))
			}
		}
		return n
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func normRegister(r Register) Register {
	return Register{Namespace: r.Namespace, SignedPeerRecord: nonNil(r.SignedPeerRecord), TTL: r.TTL}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
