package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/crypto"
)

func TestNetworkKeyNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "office.psk")
	wantOutput(t, parley(t, nil, "network-key", "new", path), 0, []string{"Wrote a new network key to " + path}, nil)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("network key mode %04o, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "/key/swarm/psk/1.0.0/\n/base16/\n") {
		t.Errorf("not the libp2p PSK format:\n%s", data)
	}
	key, err := crypto.LoadNetworkKey(path)
	if err != nil || len(key) != crypto.NetworkKeyLen {
		t.Fatalf("load the new key: %d bytes, %v", len(key), err)
	}
	r := parley(t, nil, "network-key", "new", path)
	wantOutput(t, r, 1, nil, []string{"already exists", "not overwritten"})
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Error("network-key new overwrote an existing key")
	}
}

func TestNetworkKeyUsageErrors(t *testing.T) {
	home := t.TempDir()
	key := filepath.Join(t.TempDir(), "office.psk")
	if r := parley(t, nil, "network-key", "new", key); r.code != 0 {
		t.Fatal(r)
	}
	quic := "/ip4/127.0.0.1/udp/0/quic-v1"
	cases := [][]string{
		{"network-key", "new"},
		{"network-key", "new", "a", "b"},
		{"up", "--network-key", key, "--listen", quic},
		{"rendezvous", "serve", "--network-key", key, "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", quic},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := parley(t, nil, append([]string{"--home", home}, args...)...)
			want := []string{"parley: "}
			if args[0] != "network-key" {
				want = append(want, "QUIC cannot carry a private-network key in go-libp2p; use TCP addresses")
			}
			wantOutput(t, r, 2, nil, want)
		})
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("usage errors left files in the home: %v", entries)
	}
}
