package crypto

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
)

// writeFuzzFile writes b to name in dir, mode 0600 (what a key file must have).
func writeFuzzFile(t *testing.T, dir, name string, b []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// FuzzReadKey: a damaged or edited (unsealed) identity.key must give an error, never a
// panic; a key it accepts is a usable private key.
func FuzzReadKey(f *testing.F) {
	k, _, err := lcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := lcrypto.MarshalPrivateKey(k)
	f.Add([]byte(base64.StdEncoding.EncodeToString(raw) + "\n"))
	f.Add([]byte(base64.StdEncoding.EncodeToString(raw[:10])))
	f.Add([]byte("not base64 at all"))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		if IsSealed(b) {
			return // FuzzDecodeSealed covers sealed files; opening one asks for a passphrase
		}
		key, err := readKey(writeFuzzFile(t, dir, "identity.key", b))
		if err != nil {
			return
		}
		if _, err := key.Sign([]byte("x")); err != nil {
			t.Fatalf("accepted a key that cannot sign: %v", err)
		}
	})
}

// FuzzReadProfile: identity.json may be damaged; a name that comes out of it is clean.
func FuzzReadProfile(f *testing.F) {
	f.Add([]byte(`{"name":"Ann (front desk)"}`))
	f.Add([]byte(`{"name":"` + string(make([]byte, 300)) + `"}`))
	f.Add([]byte(`{"name":"\u0000\u001b[31m"}`))
	f.Add([]byte(`{`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := readProfile(writeFuzzFile(t, dir, "identity.json", b))
		if err != nil {
			return
		}
		if !utf8.ValidString(p.Name) || len(p.Name) > MaxNameLen || p.Name == "" {
			t.Fatalf("readProfile gave the name %q", p.Name)
		}
	})
}

// FuzzLoadNetworkKey: a network-key file from anywhere must give a 32-byte key or an
// error.
func FuzzLoadNetworkKey(f *testing.F) {
	key := make([]byte, 32)
	rand.Read(key)
	f.Add(EncodeNetworkKey(key))
	f.Add([]byte("/key/swarm/psk/1.0.0/\n/base16/\n00"))
	f.Add([]byte("/key/swarm/psk/1.0.0/\n/base64/\nAAAA"))
	f.Add([]byte("/key/swarm/psk/1.0.0/\n/bin/\n"))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		psk, err := LoadNetworkKey(writeFuzzFile(t, dir, "network.key", b))
		if err == nil && len(psk) != 32 {
			t.Fatalf("accepted a key of %d bytes", len(psk))
		}
	})
}
