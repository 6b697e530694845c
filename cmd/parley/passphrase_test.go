package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/term"

	"github.com/parley-im/parley/crypto"
)

func TestInitPassphrase(t *testing.T) {
	home := t.TempDir()
	t.Setenv(crypto.PassphraseEnv, "s3cret words")
	r := parley(t, nil, "--home", home, "init", "--name", "Ann", "--passphrase")
	wantOutput(t, r, 0, []string{"Created identity in", "Ann"}, nil)
	data, err := os.ReadFile(filepath.Join(home, "identity.key"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "parley-sealed-key v1\n") {
		t.Fatalf("identity.key is not sealed:\n%s", data)
	}
	wantOutput(t, parley(t, nil, "--home", home, "id"), 0, []string{"Ann"}, nil)

	t.Setenv(crypto.PassphraseEnv, "a guess")
	r = parley(t, nil, "--home", home, "up", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0")
	wantOutput(t, r, 1, nil, []string{"wrong passphrase for the identity key in " + home})

	if term.IsTerminal(int(os.Stdin.Fd())) {
		t.Skip("stdin is a terminal: up would ask for the passphrase")
	}
	t.Setenv(crypto.PassphraseEnv, "")
	r = parley(t, nil, "--home", home, "up", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0")
	wantOutput(t, r, 1, nil, []string{"sealed with a passphrase", crypto.PassphraseEnv})
}

// Without $PARLEY_PASSPHRASE and without a terminal there is no way to ask: a usage error,
// and nothing is written.
func TestInitPassphraseNeedsOne(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	t.Setenv(crypto.PassphraseEnv, "")
	r := parley(t, nil, "--home", home, "init", "--passphrase")
	wantOutput(t, r, 2, nil, []string{"--passphrase needs a passphrase", crypto.PassphraseEnv})
	if _, err := os.Stat(home); err == nil {
		t.Error("init --passphrase without a passphrase created the home")
	}
}

// $PARLEY_PASSPHRASE without --passphrase does not seal the key (the flag decides), and
// init says so on stderr, with how to seal it, instead of saying nothing.
func TestInitWarnsPassphraseUnused(t *testing.T) {
	home := t.TempDir()
	t.Setenv(crypto.PassphraseEnv, "s3cret words")
	r := parley(t, nil, "--home", home, "init", "--name", "Ann")
	wantOutput(t, r, 0, []string{"Created identity in"}, []string{crypto.PassphraseEnv, "NOT sealed", "parley init --passphrase"})
	data, _ := os.ReadFile(filepath.Join(home, "identity.key"))
	if strings.HasPrefix(string(data), "parley-sealed-key") {
		t.Error("the key was sealed without --passphrase")
	}
	t.Setenv(crypto.PassphraseEnv, "")
	if r := parley(t, nil, "--home", t.TempDir(), "init", "--name", "Bob"); r.stderr != "" {
		t.Errorf("init without the variable warned: %q", r.stderr)
	}
}
