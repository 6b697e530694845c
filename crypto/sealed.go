package crypto

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// A sealed key file is the header line, then one line of standard base64 of
//
//	kdf     1 byte   1 = scrypt
//	logN    1 byte   scrypt cost: N = 2^logN (15 when written here)
//	r       1 byte   scrypt block size (8)
//	p       1 byte   scrypt parallelism (1)
//	salt    16 bytes
//	nonce   24 bytes XChaCha20-Poly1305
//	sealed  the rest: the key file's plaintext (the libp2p-marshalled private key) and
//	        the 16-byte tag; the header line and the bytes before it are the additional data
//
// The passphrase and the salt give the AEAD key through scrypt.
const sealedHeader = "parley-sealed-key v1"

const (
	kdfScrypt   = 1
	saltLen     = 16
	paramsLen   = 4
	defaultLogN = 15
	defaultR    = 8
	defaultP    = 1
	// maxSealedLen caps what the decoder accepts: a private key is a few hundred bytes.
	maxSealedLen = 16 << 10
	// scrypt needs 128·r·N bytes: the decoder refuses parameters above 256 MiB or p > 4.
	maxScryptMem = 256 << 20
	maxScryptP   = 4
)

// ErrWrongPassphrase means the passphrase does not open the sealed key (or the file was
// changed after it was sealed: the two cannot be told apart).
var ErrWrongPassphrase = errors.New("wrong passphrase")

// sealParams are the KDF choice and cost recorded in a sealed file.
type sealParams struct {
	logN, r, p uint8
}

var defaultSealParams = sealParams{logN: defaultLogN, r: defaultR, p: defaultP}

// sealedFile is a decoded sealed key file; ad is the authenticated part before the
// ciphertext, header line included.
type sealedFile struct {
	params     sealParams
	salt       []byte
	nonce      []byte
	ciphertext []byte
	ad         []byte
}

// IsSealed reports whether data is a sealed key file (rather than a plain one).
func IsSealed(data []byte) bool {
	return bytes.HasPrefix(data, []byte(sealedHeader+"\n"))
}

// Seal encrypts plaintext under passphrase into the sealed key file format.
func Seal(plaintext, passphrase []byte) ([]byte, error) {
	salt := make([]byte, saltLen)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(rand.Reader, salt); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return sealWith(plaintext, passphrase, defaultSealParams, salt, nonce)
}

// sealWith is Seal with the salt, nonce and cost given: the seam for golden vectors.
func sealWith(plaintext, passphrase []byte, sp sealParams, salt, nonce []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("seal: the passphrase is empty")
	}
	bin := []byte{kdfScrypt, sp.logN, sp.r, sp.p}
	bin = append(bin, salt...)
	bin = append(bin, nonce...)
	aead, err := sealKey(passphrase, sp, salt)
	if err != nil {
		return nil, err
	}
	bin = aead.Seal(bin, nonce, plaintext, additionalData(bin))
	return []byte(sealedHeader + "\n" + base64.StdEncoding.EncodeToString(bin) + "\n"), nil
}

// Open decrypts a sealed key file; ErrWrongPassphrase if passphrase does not open it.
func Open(data, passphrase []byte) ([]byte, error) {
	f, err := decodeSealed(data)
	if err != nil {
		return nil, err
	}
	aead, err := sealKey(passphrase, f.params, f.salt)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, f.nonce, f.ciphertext, f.ad)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return plain, nil
}

func additionalData(prefix []byte) []byte {
	return append([]byte(sealedHeader+"\n"), prefix...)
}

func sealKey(passphrase []byte, sp sealParams, salt []byte) (cipher.AEAD, error) {
	if err := sp.check(); err != nil {
		return nil, err
	}
	k, err := scrypt.Key(passphrase, salt, 1<<sp.logN, int(sp.r), int(sp.p), chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive the key from the passphrase: %w", err)
	}
	return chacha20poly1305.NewX(k)
}

func (sp sealParams) check() error {
	if sp.logN < 1 || sp.logN > 30 || sp.r < 1 || sp.p < 1 || sp.p > maxScryptP ||
		uint64(128)*uint64(sp.r)<<sp.logN > maxScryptMem {
		return fmt.Errorf("sealed key: unsupported scrypt parameters N=2^%d r=%d p=%d", sp.logN, sp.r, sp.p)
	}
	return nil
}

// decodeSealed parses a sealed key file without deriving any key.
func decodeSealed(data []byte) (sealedFile, error) {
	var f sealedFile
	if len(data) > maxSealedLen {
		return f, fmt.Errorf("sealed key: %d bytes, more than a key file holds", len(data))
	}
	if !IsSealed(data) {
		return f, fmt.Errorf("sealed key: no %q header", sealedHeader)
	}
	body := strings.TrimRight(string(data[len(sealedHeader)+1:]), "\r\n")
	bin, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return f, fmt.Errorf("sealed key: not base64: %w", err)
	}
	pre := paramsLen + saltLen + chacha20poly1305.NonceSizeX
	if len(bin) < pre+chacha20poly1305.Overhead {
		return f, fmt.Errorf("sealed key: %d bytes, too short", len(bin))
	}
	if bin[0] != kdfScrypt {
		return f, fmt.Errorf("sealed key: unknown key derivation %d", bin[0])
	}
	f.params = sealParams{logN: bin[1], r: bin[2], p: bin[3]}
	if err := f.params.check(); err != nil {
		return f, err
	}
	f.salt = bin[paramsLen : paramsLen+saltLen]
	f.nonce = bin[paramsLen+saltLen : pre]
	f.ciphertext = bin[pre:]
	f.ad = additionalData(bin[:pre])
	return f, nil
}
