package room

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TopicPrefix starts every room's topic name; the hex room ID follows.
const TopicPrefix = "/parley/room/1.0.0/"

// ID identifies a room. It is derived from the room's creator and a random nonce
// (DeriveID) and says nothing about the room's name.
type ID [16]byte

// idPrefix starts the bytes hashed into a room's ID; the creator and nonce follow.
const idPrefix = "parley/room-id/1"

// DeriveID is the ID of the room that creator made with nonce: the first 16 bytes of
// SHA-256("parley/room-id/1" || creator's binary peer ID || nonce). It binds a room's ID
// to its creator, so nobody else can hand out a state for that ID.
func DeriveID(creator peer.ID, nonce [16]byte) ID {
	h := sha256.New()
	h.Write([]byte(idPrefix))
	h.Write([]byte(creator))
	h.Write(nonce[:])
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}

// String returns the ID in lowercase hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID parses a room ID written by ID.String.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return ID{}, fmt.Errorf("room id %q is not 32 hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// Topic is the gossipsub topic name of the room with this ID.
func (id ID) Topic() string { return TopicPrefix + id.String() }

// Room is what every member holds about a room: its identity, current key and members.
type Room struct {
	ID       ID       // DeriveID(Creator, Nonce)
	Creator  peer.ID  // who made the room; always an owner, the only one who hands out its state
	Nonce    [16]byte // random, chosen by the creator
	Version  uint64   // bumped by every change of members, owners or key
	Name     string
	Key      [32]byte // the current key; a fresh random 256-bit key per epoch
	Epoch    uint64   // bumped by every key rotation
	Members  map[peer.ID]struct{}
	Owners   map[peer.ID]struct{} // may add and remove members; alone may post if Announce
	Announce bool
}

// New makes a room with a random nonce and key, created and owned by owner, who is its
// first member; its ID derives from owner and the nonce.
func New(name string, owner peer.ID, announce bool) (Room, error) {
	if owner == "" {
		return Room{}, errors.New("room: owner peer ID is empty")
	}
	r := Room{
		Creator:  owner,
		Version:  1,
		Name:     name,
		Epoch:    1,
		Members:  map[peer.ID]struct{}{owner: {}},
		Owners:   map[peer.ID]struct{}{owner: {}},
		Announce: announce,
	}
	if _, err := rand.Read(r.Nonce[:]); err != nil {
		return Room{}, fmt.Errorf("room: random nonce: %w", err)
	}
	r.ID = DeriveID(owner, r.Nonce)
	if _, err := rand.Read(r.Key[:]); err != nil {
		return Room{}, fmt.Errorf("room: random key: %w", err)
	}
	return r, nil
}

// Topic is the room's gossipsub topic name.
func (r Room) Topic() string { return r.ID.Topic() }

// IsMember reports whether p is a member.
func (r Room) IsMember(p peer.ID) bool { _, ok := r.Members[p]; return ok }

// IsOwner reports whether p is an owner.
func (r Room) IsOwner(p peer.ID) bool { _, ok := r.Owners[p]; return ok }

// CanPost reports whether messages authored by p are accepted: members may post, and in an
// announcement room only members who are owners.
func (r Room) CanPost(p peer.ID) bool {
	return r.IsMember(p) && (!r.Announce || r.IsOwner(p))
}

// Clone returns a copy of r that shares no maps with it.
func (r Room) Clone() Room {
	r.Members = maps.Clone(r.Members)
	r.Owners = maps.Clone(r.Owners)
	if r.Members == nil {
		r.Members = map[peer.ID]struct{}{}
	}
	if r.Owners == nil {
		r.Owners = map[peer.ID]struct{}{}
	}
	return r
}

// Rotate returns the room's next epoch: a fresh key, Epoch+1, Version+1, and the members
// and owners without remove. Whoever holds only the old key cannot read what is sealed under the new.
// The creator cannot be removed: no member would accept a state without it as an owner.
func (r Room) Rotate(remove ...peer.ID) (Room, error) {
	next := r.Clone()
	for _, p := range remove {
		if p == r.Creator {
			return Room{}, fmt.Errorf("room: %s created room %s and cannot be removed from it", p, r.ID)
		}
		delete(next.Members, p)
		delete(next.Owners, p)
	}
	next.Epoch++
	next.Version++
	if _, err := rand.Read(next.Key[:]); err != nil {
		return Room{}, fmt.Errorf("room: random key: %w", err)
	}
	return next, nil
}
