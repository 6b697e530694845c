package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/crypto"
)

var passphraseFlag = &cli.BoolFlag{
	Name:  "passphrase",
	Usage: "seal the identity key with a passphrase ($PARLEY_PASSPHRASE, else asked on the terminal); needed again whenever the key is loaded",
}

// warnUnsealed tells, on w, someone who set $PARLEY_PASSPHRASE that the key just created
// in home was not sealed with it: only --passphrase seals (the variable also unlocks a
// key, so it may be set for another home), and saying nothing would let them believe
// the key is protected.
func warnUnsealed(w io.Writer, home string) {
	if crypto.EnvPassphrase() == nil {
		return
	}
	fmt.Fprintf(w, "warning: %s is set, but the identity key in %s was NOT sealed with it: only `parley init --passphrase` seals. "+
		"To seal it, before anyone knows this identity: rm %s && parley --home %s init --passphrase\n",
		crypto.PassphraseEnv, home, filepath.Join(home, "identity.key"), home)
}

// newPassphrase returns the passphrase `init --passphrase` seals the key with: from
// $PARLEY_PASSPHRASE, else asked twice on the terminal.
func newPassphrase(c *cli.Context) ([]byte, error) {
	if p := crypto.EnvPassphrase(); p != nil {
		return p, nil
	}
	w := c.App.ErrWriter
	p, ok, err := crypto.TerminalPassphrase(w, "New passphrase for the identity key: ")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, usageError("--passphrase needs a passphrase: set %s, or run parley in a terminal to be asked for it", crypto.PassphraseEnv)
	}
	if len(p) == 0 {
		return nil, errors.New("the passphrase is empty: nothing was written")
	}
	again, _, err := crypto.TerminalPassphrase(w, "The same passphrase again: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p, again) {
		return nil, fmt.Errorf("the two passphrases differ: nothing was written")
	}
	return p, nil
}
