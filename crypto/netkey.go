package crypto

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/libp2p/go-libp2p/core/pnet"

	"github.com/parley-im/parley/internal/osfile"
)

// NetworkKeyLen is the size of a private-network key (a libp2p PSK) in bytes.
const NetworkKeyLen = 32

// EncodeNetworkKey writes key in the go-libp2p PSK file format (v1, base16), which
// other libp2p tools (kubo's swarm.key, for one) read as well.
func EncodeNetworkKey(key []byte) []byte {
	return []byte("/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(key) + "\n")
}

// NewNetworkKey writes a fresh random private-network key to path, private to the
// user (mode 0600, or an owner-only ACL on Windows). It
// refuses to overwrite an existing file.
func NewNetworkKey(path string) error {
	key := make([]byte, NetworkKeyLen)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("generate network key: %w", err)
	}
	err := writeFileExclusive(path, EncodeNetworkKey(key))
	if errors.Is(err, ErrExists) {
		return fmt.Errorf("network key %s already exists: it is not overwritten, remove it first if you really want a new one", path)
	}
	return err
}

// LoadNetworkKey reads a private-network key file (the go-libp2p PSK format). Like
// identity.key, it refuses a file others can read.
func LoadNetworkKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("network key %s does not exist: create one with `parley network-key new %s`", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read network key: %w", err)
	}
	if err := osfile.Check(path); errors.Is(err, osfile.ErrReadableByOthers) {
		return nil, fmt.Errorf("network key %s is %w (whoever reads it can join the network)", path, err)
	}
	psk, err := pnet.DecodeV1PSK(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("network key %s is not a libp2p PSK file (/key/swarm/psk/1.0.0/): %w", path, err)
	}
	return psk, nil
}
