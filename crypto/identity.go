package crypto

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/osfile"
)

const (
	keyFile     = "identity.key"
	profileFile = "identity.json"
	// MaxNameLen caps a display name in bytes; names travel in mDNS TXT strings.
	MaxNameLen = 64
)

var (
	// ErrNoIdentity means the home directory holds no identity yet.
	ErrNoIdentity = errors.New("no identity in this home")
	// ErrExists means an identity is already there and will not be overwritten.
	ErrExists = errors.New("an identity already exists in this home")
)

// Identity is this node's long-term key and the name it shows to others.
type Identity struct {
	Key    lcrypto.PrivKey
	PeerID peer.ID
	Name   string
}

type profile struct {
	Name string `json:"name"`
}

// Create makes a new Ed25519 identity in home. It refuses to overwrite one.
func Create(home, name string) (*Identity, error) {
	return CreateSealed(home, name, nil)
}

// CreateSealed is Create with the key sealed under passphrase (see Seal); a nil
// passphrase writes a plain key file.
func CreateSealed(home, name string, passphrase []byte) (*Identity, error) {
	name, err := CleanName(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("create home %s: %w", home, err)
	}
	if _, err := os.Stat(filepath.Join(home, keyFile)); err == nil {
		return nil, fmt.Errorf("%w (%s): remove it first if you really want a new one", ErrExists, filepath.Join(home, keyFile))
	}
	key, _, err := lcrypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, fmt.Errorf("generate identity key: %w", err)
	}
	if err := writeKey(filepath.Join(home, keyFile), key, passphrase); err != nil {
		return nil, err
	}
	if err := writeProfile(filepath.Join(home, profileFile), profile{Name: name}); err != nil {
		return nil, err
	}
	return newIdentity(key, name)
}

// Load reads the identity in home; ErrNoIdentity if there is none.
func Load(home string) (*Identity, error) {
	key, err := readKey(filepath.Join(home, keyFile))
	if err != nil {
		return nil, err
	}
	p, err := readProfile(filepath.Join(home, profileFile))
	if err != nil {
		return nil, err
	}
	return newIdentity(key, p.Name)
}

// LoadOrCreate loads the identity in home, creating one named name if there is none.
func LoadOrCreate(home, name string) (id *Identity, created bool, err error) {
	id, err = Load(home)
	if errors.Is(err, ErrNoIdentity) {
		id, err = Create(home, name)
		return id, err == nil, err
	}
	return id, false, err
}

// CleanName trims a display name and checks it is printable UTF-8 of at most MaxNameLen bytes.
func CleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", errors.New("display name is empty: pass --name")
	case len(name) > MaxNameLen:
		return "", fmt.Errorf("display name is %d bytes long; at most %d are allowed", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return "", errors.New("display name is not valid UTF-8")
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", errors.New("display name contains control characters")
	}
	return name, nil
}

func newIdentity(key lcrypto.PrivKey, name string) (*Identity, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("derive peer ID: %w", err)
	}
	return &Identity{Key: key, PeerID: id, Name: name}, nil
}

func writeKey(path string, key lcrypto.PrivKey, passphrase []byte) error {
	raw, err := lcrypto.MarshalPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode identity key: %w", err)
	}
	data := []byte(base64.StdEncoding.EncodeToString(raw) + "\n")
	if passphrase != nil {
		if data, err = Seal(raw, passphrase); err != nil {
			return fmt.Errorf("seal identity key: %w", err)
		}
	}
	return writeFileExclusive(path, data)
}

func readKey(path string) (lcrypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s): run `parley init` or `parley up` to create one", ErrNoIdentity, filepath.Dir(path))
	}
	if err != nil {
		return nil, fmt.Errorf("read identity key: %w", err)
	}
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	var raw []byte
	if IsSealed(data) {
		raw, err = openKey(path, data)
	} else if raw, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(data))); err != nil {
		err = fmt.Errorf("identity key %s is damaged (not base64): %w", path, err)
	}
	if err != nil {
		return nil, err
	}
	key, err := lcrypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("identity key %s is damaged: %w", path, err)
	}
	return key, nil
}

// openKey opens a sealed identity key with the passphrase from passphraseFor.
func openKey(path string, data []byte) ([]byte, error) {
	home := filepath.Dir(path)
	if _, err := decodeSealed(data); err != nil {
		return nil, fmt.Errorf("identity key %s is damaged: %w", path, err)
	}
	pass, err := passphraseFor(home)
	if err != nil {
		return nil, err
	}
	raw, err := Open(data, pass)
	if errors.Is(err, ErrWrongPassphrase) {
		return nil, fmt.Errorf("%w for the identity key in %s (or the file %s was altered)", ErrWrongPassphrase, home, path)
	}
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w", path, err)
	}
	return raw, nil
}

// checkPrivate refuses a key file others can read, as ssh does (the mode on Unix,
// the ACL on Windows: see internal/osfile).
func checkPrivate(path string) error {
	err := osfile.Check(path)
	if errors.Is(err, osfile.ErrReadableByOthers) {
		return fmt.Errorf("identity key %s is %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("check identity key: %w", err)
	}
	return nil
}

func writeProfile(path string, p profile) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := osfile.WritePrivate(tmp, append(data, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func readProfile(path string) (profile, error) {
	var p profile
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return profile{Name: DefaultName()}, nil
	}
	if err != nil {
		return p, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("%s is damaged: %w", path, err)
	}
	if p.Name, err = CleanName(p.Name); err != nil {
		p.Name = DefaultName()
	}
	return p, nil
}

// SetName changes the display name stored in home.
func SetName(home, name string) error {
	name, err := CleanName(name)
	if err != nil {
		return err
	}
	return writeProfile(filepath.Join(home, profileFile), profile{Name: name})
}

// DefaultName is the name a new identity gets when none is given: the user's login
// name at the host name, like a mail address on a LAN.
func DefaultName() string {
	user := os.Getenv("USER")
	if user == "" {
		user = "parley"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return user
	}
	name := user + "@" + host
	if len(name) > MaxNameLen {
		name = name[:MaxNameLen]
	}
	return strings.ToValidUTF8(name, "")
}

func writeFileExclusive(path string, data []byte) error {
	f, err := osfile.OpenPrivate(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w (%s)", ErrExists, path)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}
