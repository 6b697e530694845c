package crypto

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNetworkKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swarm.key")
	if err := NewNetworkKey(path); err != nil {
		t.Fatal(err)
	}
	key, err := LoadNetworkKey(path)
	if err != nil || len(key) != NetworkKeyLen {
		t.Fatalf("LoadNetworkKey: %d bytes, %v", len(key), err)
	}
	data, _ := os.ReadFile(path)
	if !bytes.Equal(data, EncodeNetworkKey(key)) {
		t.Errorf("file %q is not EncodeNetworkKey of its key", data)
	}
	if err := NewNetworkKey(path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("NewNetworkKey over an existing file: %v", err)
	}
}

func TestNetworkKeyGolden(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, NetworkKeyLen)
	want := "/key/swarm/psk/1.0.0/\n/base16/\n" + strings.Repeat("ab", NetworkKeyLen) + "\n"
	if got := string(EncodeNetworkKey(key)); got != want {
		t.Errorf("EncodeNetworkKey = %q, want %q", got, want)
	}
}

func TestLoadNetworkKeyRejects(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadNetworkKey(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "parley network-key new") {
		t.Errorf("missing file: %v", err)
	}
	shared := filepath.Join(dir, "shared.key")
	if err := NewNetworkKey(shared); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o644)
	if _, err := LoadNetworkKey(shared); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a network key others can read: %v, want a refusal saying chmod 600", err)
	}
	for name, data := range map[string]string{
		"garbage":   "hello\n",
		"short":     "/key/swarm/psk/1.0.0/\n/base16/\nabcd\n",
		"encoding":  "/key/swarm/psk/1.0.0/\n/base99/\n" + strings.Repeat("ab", 32) + "\n",
		"not hex":   "/key/swarm/psk/1.0.0/\n/base16/\n" + strings.Repeat("zz", 32) + "\n",
		"no header": strings.Repeat("ab", 32) + "\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(data), 0o600)
		if _, err := LoadNetworkKey(p); err == nil {
			t.Errorf("%s: loaded %q", name, data)
		}
	}
}
