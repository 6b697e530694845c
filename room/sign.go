package room

import (
	"errors"
	"fmt"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// sigPrefix starts the bytes an author signs; the room ID and the unsigned message follow.
const sigPrefix = "parley/room-msg/1"

// ErrBadSignature wraps every failure to prove a message's author.
var ErrBadSignature = errors.New("room message signature does not prove its author")

// SigningBytes is what the author signs: "parley/room-msg/1" || room ID || m encoded
// without its signature. The room ID keeps a message from being replayed into another room.
func (m Message) SigningBytes(room ID) []byte {
	m.Sig = nil
	b := make([]byte, 0, len(sigPrefix)+len(room)+64+len(m.Author)+len(m.Text))
	b = append(b, sigPrefix...)
	b = append(b, room[:]...)
	return AppendMessage(b, m)
}

// SignMessage sets m.Sig to key's signature of m in room. key must be m.Author's key.
func SignMessage(m *Message, room ID, key libp2pcrypto.PrivKey) error {
	if key == nil {
		return errors.New("sign room message: no private key")
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("sign room message: %w", err)
	}
	if id != m.Author {
		return fmt.Errorf("sign room message: the key is %s's, the author is %s", id, m.Author)
	}
	sig, err := key.Sign(m.SigningBytes(room))
	if err != nil {
		return fmt.Errorf("sign room message: %w", err)
	}
	if len(sig) > MaxSig {
		return fmt.Errorf("sign room message: a %s signature is %d bytes; at most %d are allowed (use an Ed25519 key)", key.Type(), len(sig), MaxSig)
	}
	m.Sig = sig
	return nil
}

// VerifyAuthor checks m.Sig against the public key inside m.Author, so it proves the author
// of a message that another member relayed. Authors whose peer ID does not embed their
// public key (RSA) are refused. Errors wrap ErrBadSignature.
func (m Message) VerifyAuthor(room ID) error {
	if len(m.Sig) == 0 {
		return fmt.Errorf("%w: the message is not signed", ErrBadSignature)
	}
	pub, err := m.Author.ExtractPublicKey()
	if err != nil || pub == nil {
		return fmt.Errorf("%w: no public key in author ID %q: %v", ErrBadSignature, m.Author, err)
	}
	ok, err := pub.Verify(m.SigningBytes(room), m.Sig)
	switch {
	case err != nil:
		return fmt.Errorf("%w: by %s: %v", ErrBadSignature, m.Author, err)
	case !ok:
		return fmt.Errorf("%w: by %s in room %s", ErrBadSignature, m.Author, room)
	}
	return nil
}
