package crypto

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// PassphraseEnv is the environment variable that gives the identity key's passphrase.
const PassphraseEnv = "PARLEY_PASSPHRASE"

// ErrPassphraseNeeded means the identity key is sealed and no passphrase was given.
var ErrPassphraseNeeded = errors.New("the identity key is sealed with a passphrase")

// EnvPassphrase returns $PARLEY_PASSPHRASE, or nil when it is unset or empty.
func EnvPassphrase() []byte {
	if s := os.Getenv(PassphraseEnv); s != "" {
		return []byte(s)
	}
	return nil
}

// TerminalPassphrase asks for a passphrase on the terminal without echo, writing prompt to
// w. ok is false when stdin is not a terminal.
func TerminalPassphrase(w io.Writer, prompt string) (pass []byte, ok bool, err error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, false, nil
	}
	fmt.Fprint(w, prompt)
	pass, err = term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		return nil, true, fmt.Errorf("read the passphrase: %w", err)
	}
	return pass, true, nil
}

// passphraseFor finds the passphrase of the sealed identity key in home: from
// $PARLEY_PASSPHRASE, else asked on the terminal.
func passphraseFor(home string) ([]byte, error) {
	if p := EnvPassphrase(); p != nil {
		return p, nil
	}
	p, ok, err := TerminalPassphrase(os.Stderr, fmt.Sprintf("Passphrase for the identity key in %s: ", home))
	if err != nil {
		return nil, err
	}
	if !ok || len(p) == 0 {
		return nil, fmt.Errorf("%w (%s): set %s, or run parley in a terminal to be asked for it", ErrPassphraseNeeded, home, PassphraseEnv)
	}
	return p, nil
}
