package crypto

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
)

func TestCreateLoad(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	if _, err := Load(home); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Load of empty home: got %v, want ErrNoIdentity", err)
	}
	id, err := Create(home, "  Alice  ")
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "Alice" {
		t.Errorf("name = %q, want trimmed Alice", id.Name)
	}
	st, err := os.Stat(filepath.Join(home, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode = %o, want 600", st.Mode().Perm())
	}
	again, err := Load(home)
	if err != nil {
		t.Fatal(err)
	}
	if again.PeerID != id.PeerID || again.Name != "Alice" {
		t.Errorf("reloaded %s/%q, want %s/Alice", again.PeerID, again.Name, id.PeerID)
	}
	if _, err := Create(home, "Bob"); !errors.Is(err, ErrExists) {
		t.Errorf("second Create: got %v, want ErrExists", err)
	}
}

func TestLoadOrCreate(t *testing.T) {
	home := t.TempDir()
	a, created, err := LoadOrCreate(home, "A")
	if err != nil || !created {
		t.Fatalf("first: created=%v err=%v", created, err)
	}
	b, created, err := LoadOrCreate(home, "other")
	if err != nil || created || b.PeerID != a.PeerID || b.Name != "A" {
		t.Fatalf("second: created=%v err=%v id=%s name=%q", created, err, b.PeerID, b.Name)
	}
}

func TestRefusesOpenKeyFile(t *testing.T) {
	home := t.TempDir()
	if _, err := Create(home, "A"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(home, keyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(home); err == nil {
		t.Fatal("Load accepted a key file readable by others")
	}
}

func TestDamagedKey(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, keyFile), []byte("!!not base64"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(home); err == nil {
		t.Fatal("Load accepted a damaged key")
	}
}

func TestCleanName(t *testing.T) {
	for _, bad := range []string{"", "   ", "a\x00b", "tab\there", string(make([]byte, MaxNameLen+1)), "\xff"} {
		if _, err := CleanName(bad); err == nil {
			t.Errorf("CleanName(%q) accepted", bad)
		}
	}
	if got, err := CleanName(" Zoë "); err != nil || got != "Zoë" {
		t.Errorf("CleanName(Zoë) = %q, %v", got, err)
	}
}

var fingerprintShape = regexp.MustCompile(`^\d{5}( \d{5}){5}$`)

func TestFingerprint(t *testing.T) {
	a, _, _ := lcrypto.GenerateEd25519Key(nil)
	b, _, _ := lcrypto.GenerateEd25519Key(nil)
	fa, err := Fingerprint(a.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	if !fingerprintShape.MatchString(fa) {
		t.Errorf("fingerprint %q is not six groups of five digits", fa)
	}
	fa2, _ := Fingerprint(a.GetPublic())
	fb, _ := Fingerprint(b.GetPublic())
	if fa != fa2 {
		t.Error("fingerprint is not deterministic")
	}
	if fa == fb {
		t.Error("two keys share a fingerprint")
	}
	ab, _ := SafetyNumber(a.GetPublic(), b.GetPublic())
	ba, _ := SafetyNumber(b.GetPublic(), a.GetPublic())
	if ab != ba || len(ab) != 2*len(fa)+1 {
		t.Errorf("safety number not symmetric or wrong length: %q vs %q", ab, ba)
	}
}

// TestFingerprintGolden pins the scheme: changing it would make every user re-verify.
func TestFingerprintGolden(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize) // all-zero Ed25519 seed
	key, err := lcrypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := Fingerprint(key.GetPublic())
	const want = "09379 45461 00361 60698 87730 37182"
	if got != want {
		t.Errorf("fingerprint of the zero-seed key = %q, want %q", got, want)
	}
}
