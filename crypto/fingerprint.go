package crypto

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"strings"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
)

// fingerprintRounds makes fingerprints slow enough to search for a colliding key,
// as Signal's safety numbers do (5200 iterations of SHA-512).
const fingerprintRounds = 5200

// fingerprintVersion is mixed into every digest so a future scheme never collides.
const fingerprintVersion = 0

// Fingerprint is 30 decimal digits in six groups of five, derived from the public key.
// People read it to each other to check a key, like a Signal safety number half.
func Fingerprint(pub lcrypto.PubKey) (string, error) {
	raw, err := lcrypto.MarshalPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	return formatDigits(iterateDigest(raw)), nil
}

// SafetyNumber is the 60-digit number both people of a conversation see identically:
// the two fingerprints, the smaller first.
func SafetyNumber(a, b lcrypto.PubKey) (string, error) {
	fa, err := Fingerprint(a)
	if err != nil {
		return "", err
	}
	fb, err := Fingerprint(b)
	if err != nil {
		return "", err
	}
	if fb < fa {
		fa, fb = fb, fa
	}
	return fa + " " + fb, nil
}

func iterateDigest(key []byte) []byte {
	var version [2]byte
	binary.BigEndian.PutUint16(version[:], fingerprintVersion)
	h := sha512.New()
	h.Write(version[:])
	h.Write(key)
	digest := h.Sum(nil)
	for range fingerprintRounds {
		h.Reset()
		h.Write(digest)
		h.Write(key)
		digest = h.Sum(digest[:0])
	}
	return digest
}

// formatDigits turns the first 30 bytes of digest into six 5-digit groups, each from
// 5 bytes taken modulo 100000, as Signal does.
func formatDigits(digest []byte) string {
	groups := make([]string, 6)
	for i := range groups {
		chunk := digest[i*5 : i*5+5]
		var v uint64
		for _, b := range chunk {
			v = v<<8 | uint64(b)
		}
		groups[i] = fmt.Sprintf("%05d", v%100000)
	}
	return strings.Join(groups, " ")
}
