package mailbox

import (
	"bytes"
	"errors"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

type ident struct {
	priv lcrypto.PrivKey
	id   peer.ID
	key  *Key
}

func newIdent(t testing.TB) ident {
	t.Helper()
	priv, _, err := lcrypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(priv)
	k, err := DeriveKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return ident{priv, id, k}
}

func sealTo(t testing.TB, from, to ident, id, text string) []byte {
	t.Helper()
	env, err := Seal(from.priv, Letter{To: to.id, ID: id, CreatedAt: time.Unix(1, 0), Body: []byte(text)}, to.key.Binding())
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestSealRoundTrip(t *testing.T) {
	ann, bob := newIdent(t), newIdent(t)
	env := sealTo(t, ann, bob, "m1", "hello bob")
	if bytes.Contains(env, []byte("hello bob")) {
		t.Fatal("the envelope holds the plaintext")
	}
	l, err := bob.key.Open(env)
	if err != nil {
		t.Fatal(err)
	}
	if l.Author != ann.id || l.To != bob.id || l.ID != "m1" || string(l.Body) != "hello bob" || !l.CreatedAt.Equal(time.Unix(1, 0)) {
		t.Errorf("opened %+v", l)
	}
}

func TestDeriveKeyIsDeterministicAndBound(t *testing.T) {
	ann := newIdent(t)
	again, err := DeriveKey(ann.priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Binding().Public, ann.key.Binding().Public) {
		t.Error("the same identity derived two mailbox keys")
	}
	b, err := ParseKeyBinding(ann.key.Binding().Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(ann.id); err != nil {
		t.Errorf("own binding: %v", err)
	}
	if err := b.Verify(newIdent(t).id); !errors.Is(err, ErrForged) {
		t.Errorf("binding checked against another peer: %v", err)
	}
	// A key swapped in by someone else (the binding's signature no longer covers it).
	mallory := newIdent(t)
	swapped := KeyBinding{Public: mallory.key.Binding().Public, Signature: b.Signature}
	if err := swapped.Verify(ann.id); !errors.Is(err, ErrForged) {
		t.Errorf("swapped key: %v", err)
	}
	if _, err := Seal(mallory.priv, Letter{To: ann.id, ID: "x"}, swapped); err == nil {
		t.Error("Seal used a binding that does not verify")
	}
}

func TestOpenRefusesTampered(t *testing.T) {
	ann, bob := newIdent(t), newIdent(t)
	env := sealTo(t, ann, bob, "m1", "hello")
	for i := range env {
		bad := bytes.Clone(env)
		bad[i] ^= 0x01
		if _, err := bob.key.Open(bad); err == nil {
			t.Fatalf("a flipped bit at %d opened", i)
		}
	}
	if _, err := bob.key.Open(env[:len(env)-1]); err == nil {
		t.Error("a truncated envelope opened")
	}
}

func TestOpenRefusesWrongRecipient(t *testing.T) {
	ann, bob, carol := newIdent(t), newIdent(t), newIdent(t)
	if _, err := carol.key.Open(sealTo(t, ann, bob, "m1", "for bob")); !errors.Is(err, ErrNotForMe) {
		t.Errorf("carol opened bob's mail: %v", err)
	}
}

// TestOpenRefusesForgedAuthor: a letter that claims Ann wrote it but is signed by Mallory.
func TestOpenRefusesForgedAuthor(t *testing.T) {
	ann, bob, mallory := newIdent(t), newIdent(t), newIdent(t)
	l := Letter{Author: ann.id, To: bob.id, ID: "m1", Body: []byte("send money")}
	sig, _ := mallory.priv.Sign(append([]byte(labelLetter), l.tbs()...))
	env := sealRaw(t, l.tbs(), sig, bob)
	if _, err := bob.key.Open(env); !errors.Is(err, ErrForged) {
		t.Errorf("forged author: %v", err)
	}
}

// TestOpenRefusesReplayToAnotherRecipient: Bob opens Ann's letter and re-seals it, with
// Ann's signature, to Carol. Carol sees that Ann wrote it for Bob.
func TestOpenRefusesReplayToAnotherRecipient(t *testing.T) {
	ann, bob, carol := newIdent(t), newIdent(t), newIdent(t)
	l := Letter{Author: ann.id, To: bob.id, ID: "m1", Body: []byte("for bob only")}
	sig, _ := ann.priv.Sign(append([]byte(labelLetter), l.tbs()...))
	if _, err := bob.key.Open(sealRaw(t, l.tbs(), sig, bob)); err != nil {
		t.Fatalf("the honest letter: %v", err)
	}
	if _, err := carol.key.Open(sealRaw(t, l.tbs(), sig, carol)); !errors.Is(err, ErrReplayed) {
		t.Errorf("replayed to carol: %v", err)
	}
}

// sealRaw seals a signed letter as Seal does, without signing it.
func sealRaw(t testing.TB, tbs, sig []byte, to ident) []byte {
	t.Helper()
	inner := appendBytes(appendBytes(nil, 1, tbs), 2, sig)
	pk, err := suiteKEM.NewPublicKey(to.key.Binding().Public)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := hpkeSeal(pk, envelopeInfo(to.id), inner)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{envelopeVersion}, ct...)
}

func TestRoomSecret(t *testing.T) {
	a := RoomSecret([]byte("k"), []byte("room"), 1)
	if bytes.Equal(a, RoomSecret([]byte("k"), []byte("room"), 2)) || bytes.Equal(a, RoomSecret([]byte("k"), []byte("other"), 1)) || len(a) != 32 {
		t.Error("room secrets do not depend on room and epoch")
	}
}

func FuzzOpen(f *testing.F) {
	ann, bob := newIdent(f), newIdent(f)
	f.Add(sealTo(f, ann, bob, "m1", "hello"))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, env []byte) {
		if l, err := bob.key.Open(env); err == nil && (l.To != bob.id || l.Author.Validate() != nil) {
			t.Fatalf("opened %+v", l)
		}
	})
}

// FuzzOpenLetter fuzzes what is inside the seal: the mailbox's peers cannot reach it,
// but any sender can put anything there.
func FuzzOpenLetter(f *testing.F) {
	ann, bob := newIdent(f), newIdent(f)
	l := Letter{Author: ann.id, To: bob.id, ID: "m1", Body: []byte("x")}
	sig, _ := ann.priv.Sign(append([]byte(labelLetter), l.tbs()...))
	f.Add(l.tbs(), sig)
	f.Fuzz(func(t *testing.T, tbs, sig []byte) {
		if len(tbs) > MaxBody {
			return
		}
		if got, err := bob.key.Open(sealRaw(t, tbs, sig, bob)); err == nil && (got.Author != ann.id || got.To != bob.id) {
			t.Fatalf("opened %+v", got)
		}
	})
}

func FuzzParseKeyBinding(f *testing.F) {
	ann := newIdent(f)
	f.Add(ann.key.Binding().Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		if kb, err := ParseKeyBinding(b); err == nil && kb.Verify(ann.id) == nil && !bytes.Equal(kb.Public, ann.key.Binding().Public) {
			t.Fatal("a binding of another key verified")
		}
	})
}
