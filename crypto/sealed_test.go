package crypto

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
	"golang.org/x/term"
)

// cheap keeps the tests that do not check the real cost fast.
var cheap = sealParams{logN: 10, r: 8, p: 1}

func fixed(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

func TestSealOpenRoundTrip(t *testing.T) {
	plain := []byte("an identity key, marshalled")
	sealed, err := Seal(plain, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !IsSealed(sealed) || bytes.Contains(sealed, plain) {
		t.Fatalf("not a sealed file, or the plaintext shows:\n%s", sealed)
	}
	f, err := decodeSealed(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if f.params != defaultSealParams {
		t.Errorf("sealed with %+v, want N=2^15 r=8 p=1", f.params)
	}
	got, err := Open(sealed, []byte("correct horse"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := Seal(plain, []byte("correct horse"))
	if bytes.Equal(again, sealed) {
		t.Error("two seals of the same key are identical: salt or nonce is not random")
	}
}

func TestOpenWrongPassphrase(t *testing.T) {
	sealed, err := sealWith([]byte("key"), []byte("right"), cheap, fixed(16, 1), fixed(24, 2))
	if err != nil {
		t.Fatal(err)
	}
	for _, pass := range []string{"wrong", "Right", "right ", ""} {
		if _, err := Open(sealed, []byte(pass)); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("Open with %q: %v, want ErrWrongPassphrase", pass, err)
		}
	}
	if _, err := Seal([]byte("key"), nil); err == nil {
		t.Error("sealed with an empty passphrase")
	}
}

// Changing any byte after sealing makes Open fail: the parameters, salt and nonce are
// authenticated along with the ciphertext.
func TestOpenTampered(t *testing.T) {
	sealed, err := sealWith([]byte("key material"), []byte("pw"), cheap, fixed(16, 1), fixed(24, 2))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := decodeSealed(sealed)
	bin, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sealed[len(sealedHeader)+1:])))
	for i := range bin {
		if i == 1 || i == 2 || i == 3 {
			continue // cost bytes: checked below, some values are refused before any work
		}
		mod := bytes.Clone(bin)
		mod[i] ^= 0x01
		file := []byte(sealedHeader + "\n" + base64.StdEncoding.EncodeToString(mod) + "\n")
		if _, err := Open(file, []byte("pw")); err == nil {
			t.Errorf("byte %d changed (of %d, ciphertext from %d): Open succeeded", i, len(bin), len(bin)-len(f.ciphertext))
		}
	}
	mod := bytes.Clone(bin)
	mod[1] = 11 // logN 11: a valid cost, another key
	file := []byte(sealedHeader + "\n" + base64.StdEncoding.EncodeToString(mod) + "\n")
	if _, err := Open(file, []byte("pw")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("cost changed: %v, want ErrWrongPassphrase", err)
	}
	if _, err := Open(sealed[:len(sealed)-10], []byte("pw")); err == nil {
		t.Error("truncated file opened")
	}
}

// The golden vector pins the format: header, layout, scrypt N=2^15 r=8 p=1, XChaCha20-Poly1305.
const goldenSealed = "parley-sealed-key v1\nAQ8IAQABAgMEBQYHCAkKCwwNDg8gISIjJCUmJygpKissLS4vMDEyMzQ1NjePPLb9mTev1ohOXt6ibAc+vjgSbIJv565CTCh0OTK3pn0=\n"

func TestSealedGolden(t *testing.T) {
	salt := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	nonce := make([]byte, 24)
	for i := range nonce {
		nonce[i] = byte(0x20 + i)
	}
	plain := []byte("parley golden key")
	got, err := sealWith(plain, []byte("passphrase"), defaultSealParams, salt, nonce)
	if err != nil {
		t.Fatal(err)
	}
	// An independent derivation: scrypt then XChaCha20-Poly1305 over the documented layout.
	k, _ := scrypt.Key([]byte("passphrase"), salt, 1<<15, 8, 1, 32)
	aead, _ := chacha20poly1305.NewX(k)
	prefix := append(append([]byte{1, 15, 8, 1}, salt...), nonce...)
	want := append(bytes.Clone(prefix), aead.Seal(nil, nonce, plain, append([]byte(sealedHeader+"\n"), prefix...))...)
	wantFile := sealedHeader + "\n" + base64.StdEncoding.EncodeToString(want) + "\n"
	if string(got) != wantFile {
		t.Errorf("sealWith =\n%s\nwant\n%s", got, wantFile)
	}
	if string(got) != goldenSealed {
		t.Errorf("sealed file changed:\n%q\nwant\n%q", got, goldenSealed)
	}
	if open, err := Open([]byte(goldenSealed), []byte("passphrase")); err != nil || !bytes.Equal(open, plain) {
		t.Errorf("Open(golden) = %q, %v", open, err)
	}
}

func TestDecodeSealedRejects(t *testing.T) {
	ok, _ := sealWith([]byte("k"), []byte("pw"), cheap, fixed(16, 1), fixed(24, 2))
	bin, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(ok[len(sealedHeader)+1:])))
	enc := func(b []byte) []byte {
		return []byte(sealedHeader + "\n" + base64.StdEncoding.EncodeToString(b) + "\n")
	}
	with := func(i int, v byte) []byte { b := bytes.Clone(bin); b[i] = v; return enc(b) }
	cases := map[string][]byte{
		"no header":   []byte("AQ8IAQ==\n"),
		"v2":          []byte("parley-sealed-key v2\n" + base64.StdEncoding.EncodeToString(bin)),
		"not base64":  []byte(sealedHeader + "\n!!!!\n"),
		"short":       enc(bin[:40]),
		"argon2?":     with(0, 2),
		"logN 0":      with(1, 0),
		"huge memory": with(1, 25),
		"r 0":         with(2, 0),
		"p 0":         with(3, 0),
		"p 9":         with(3, 9),
		"too long":    append(bytes.Clone(ok), bytes.Repeat([]byte("A"), maxSealedLen)...),
	}
	for name, data := range cases {
		if _, err := decodeSealed(data); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeSealed(f *testing.F) {
	f.Add([]byte(goldenSealed))
	ok, _ := sealWith([]byte("k"), []byte("pw"), cheap, fixed(16, 1), fixed(24, 2))
	f.Add(ok)
	f.Add([]byte(sealedHeader + "\n"))
	f.Add([]byte(sealedHeader + "\nAQ8IAQ==\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := decodeSealed(data)
		if err != nil {
			return
		}
		if sf.params.check() != nil || len(sf.salt) != saltLen || len(sf.nonce) != chacha20poly1305.NonceSizeX ||
			len(sf.ciphertext) < chacha20poly1305.Overhead {
			t.Fatalf("decoded an invalid file: %+v", sf)
		}
		if sf.params.logN <= 10 && sf.params.r <= 8 { // cheap enough to open while fuzzing
			Open(data, []byte("pw"))
		}
	})
}

func TestSealedIdentity(t *testing.T) {
	home := t.TempDir()
	id, err := CreateSealed(home, "Ann", []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(home, keyFile))
	if !IsSealed(data) {
		t.Fatalf("identity.key is not sealed:\n%s", data)
	}
	t.Setenv(PassphraseEnv, "s3cret")
	got, err := Load(home)
	if err != nil || got.PeerID != id.PeerID {
		t.Fatalf("Load with the passphrase: %v, %v", got, err)
	}
	t.Setenv(PassphraseEnv, "guess")
	_, err = Load(home)
	if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), "wrong passphrase for the identity key in "+home) {
		t.Errorf("Load with a wrong passphrase: %v", err)
	}
	t.Setenv(PassphraseEnv, "")
	if term.IsTerminal(int(os.Stdin.Fd())) {
		t.Log("stdin is a terminal: Load would ask for the passphrase; the no-passphrase case is not checked")
	} else if _, err = Load(home); !errors.Is(err, ErrPassphraseNeeded) || !strings.Contains(err.Error(), PassphraseEnv) {
		t.Errorf("Load with no passphrase: %v", err)
	}
	// A plain key keeps working, with or without a passphrase set.
	plain := t.TempDir()
	pid, err := Create(plain, "Bob")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(PassphraseEnv, "unused")
	if got, err := Load(plain); err != nil || got.PeerID != pid.PeerID {
		t.Errorf("plain key: %v, %v", got, err)
	}
}
