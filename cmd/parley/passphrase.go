package main

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/crypto"
)

var passphraseFlag = &cli.BoolFlag{
	Name:  "passphrase",
	Usage: "seal the identity key with a passphrase ($PARLEY_PASSPHRASE, else asked on the terminal); needed again whenever the key is loaded",
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
