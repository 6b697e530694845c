// Package room implements the core of Parley's rooms: end-to-end encrypted group chat on
// gossipsub. It holds a room's state (ID, key, epoch, members), seals and opens room
// messages, and runs an Engine that joins rooms' topics, validates what arrives and
// hands accepted messages to a callback. It also defines the wire formats of the room
// state an owner hands a member, the invite protocol and the history sync protocol; the
// streams that carry them, and storage, live elsewhere.
//
// # Topic
//
// A room's gossipsub topic is named from its 16-byte ID, never from its name:
//
//	/parley/room/1.0.0/<32 lowercase hex digits of the room ID>
//
// # Room ID
//
// The ID is public: it names the topic. So it is bound to the room's creator, who picks a
// random 16-byte nonce when making the room (DeriveID):
//
//	id = first 16 bytes of SHA-256("parley/room-id/1" || creator's binary peer ID || nonce)
//
// Only the creator hands out a room's state. A state is accepted only if its ID derives
// from its creator and nonce and its creator is an owner, so a state for a known ID with
// another creator, or made by anyone but the creator, cannot exist: finding a second
// creator and nonce for an ID means breaking SHA-256. A member that holds a room refuses
// an update with another creator or nonce (Engine.Update: ErrNotSameRoom).
//
// Every pubsub message is signed by its author (StrictSign); the verified signer is the
// message's author.
//
// # Envelope
//
// The data of every pubsub message on the topic is one envelope, protobuf wire format
// (unknown fields are skipped), at most MaxEnvelope bytes — checked before decoding:
//
//	1 epoch      varint  the key epoch the message is sealed under (≥ 1)
//	2 nonce      bytes   24 random bytes
//	3 ciphertext bytes   XChaCha20-Poly1305(room key, nonce, message, ad), 16 bytes tag included
//
// The additional data binds the ciphertext to its room and epoch:
//
//	ad = "parley/room/1" || room ID (16 bytes) || epoch (8 bytes, big-endian)
//
// # Message
//
// The plaintext inside the ciphertext, protobuf wire format:
//
//	1 id      bytes   16 random bytes, unique per message
//	2 author  bytes   the author's peer ID (binary), 1..MaxAuthorLen bytes
//	3 clock   varint  the author's clock when sending, Unix nanoseconds
//	4 lamport varint  the author's Lamport counter: max(seen)+1, at most MaxLamport
//	5 text    bytes   UTF-8, at most MaxText bytes
//	6 sig     bytes   the author's signature, at most MaxSig bytes (Ed25519: 64)
//
// # Author signature
//
// The pubsub signature proves who published an envelope, but it stays behind when a
// member later relays the message to another over the sync protocol. So the author also
// signs the message itself, with the key embedded in its peer ID (Ed25519), over
//
//	"parley/room-msg/1" || room ID (16 bytes) || the message encoded without field 6
//
// The room ID in the signed bytes keeps a message from being replayed into another room.
// A message whose signature does not verify is dropped, from the topic and from sync.
//
// # Validation
//
// A member's topic validator drops an envelope that is oversized or malformed, sealed
// under another epoch or key, whose inner author differs from the pubsub signer, whose
// author signature does not verify, whose author is not a member (in announcement rooms:
// not an owner), or whose author is blocked locally; and a message whose Lamport counter
// is above MaxLamport or whose author clock is more than MaxClockSkew ahead of the local
// clock. A dropped message is not forwarded. Membership is always that of the room's
// current state; the previous epoch's key still opens messages that were in flight when
// the key rotated (the removed member held that key anyway), and nothing older does.
//
// Messages that arrive by sync (Engine.Deliver) pass the same checks but for the
// envelope's: a valid author signature for the room, an author not blocked who may post
// in the room's current state, and the same bounds. The trade-off: the history of a
// member who has since been removed (or, in an announcement room, of an owner who is no
// longer one) is not relayed by sync; those who received it on the topic keep it. In
// exchange no member can inject, by sync, posts by non-members or by non-owners in an
// announcement room, signed or not.
//
// The Lamport counter of a joined room survives a restart only if the node seeds it from
// its archive (Engine.SeedLamport); otherwise its next messages sort before its last.
//
// # Order
//
// Every member shows messages in one order: by Lamport counter, then author clock, then
// author ID, then message ID (see Compare). Duplicates, by author and message ID, are
// dropped: an ID is its author's choice, so another member reusing it is another message.
//
// # Frames
//
// The invite and sync protocols run on libp2p streams as frames: an unsigned varint
// length, then that many bytes of protobuf (WriteFrame, ReadFrame). A reader refuses a
// length above the protocol's limit before allocating, and pays for the frame as its bytes
// arrive (ReadFrameFrom, internal/wire): memory reserved with the stream's
// resource-manager scope, and for frames over 64 KiB (invitations near MaxInvite, sync
// pages) a place in the node's budget of large frames and a progress deadline.
//
// # Room state
//
// What an owner hands a member (AppendState), at most MaxState bytes:
//
//	1 id       bytes   16 bytes
//	2 name     bytes   UTF-8, 1..MaxName bytes, no control characters
//	3 key      bytes   32 bytes
//	4 epoch    varint  ≥ 1
//	5 announce varint  0 or 1 (absent: 0)
//	6 member   bytes   repeated: a binary peer ID; at most MaxMembers, sorted, no repeats
//	7 owner    bytes   repeated: a binary peer ID, also a member; at least one, sorted
//	8 creator  bytes   the creator's binary peer ID; an owner
//	9 nonce    bytes   16 bytes; field 1 must be DeriveID(creator, nonce)
//	10 version varint  bumped by every change of members, owners or key (absent: 0)
//
// Every change of members or owners bumps the version, and a key rotation bumps both the
// epoch and the version (Room.Rotate). A member holding the room takes a state of a later
// epoch, or of the same epoch and key and at least the held version (Engine.Update), so
// same-epoch changes have an order and an old one replayed is refused (ErrStale).
//
// # Invite protocol
//
// InviteProtocol: the sender writes one frame (AppendInvite, at most MaxInvite bytes) and
// the receiver answers one byte, InviteOK or InviteRefused.
//
//	1 kind  varint  1 invite, 2 update (members or key changed), 3 left (the sender left),
//	                4 ask (the sender asks the creator for the room's state)
//	2 state bytes   the room state; kinds 1 and 2
//	3 id    bytes   the room ID; kinds 3 and 4 only
//
// An ask is answered by the room's creator, if the asker is a member now, with InviteOK
// and then one more frame: an update (kind 2) holding the creator's current state, which
// the asker takes as if the creator had pushed it. Anyone else answers InviteRefused;
// a node older than kind 4 resets the stream (an unknown kind is malformed). Asks count
// against the invite protocol's per-peer rate limit, and a member asks about a room at
// most once per few seconds.
//
// # Epoch claims
//
// The envelope's epoch is cleartext and anyone who can post may write any number there,
// so it is a claim, never a fact. A member that sees a member's envelope sealed under an
// epoch newer than its own may have missed a rotation (a removal while it was away): it
// asks the creator for the state (Config.OnNewerEpoch), and if the claim is at most
// MaxEpochStep ahead it stops posting under its key (ErrKeyOutOfDate), which a removed
// member may hold, until the creator's state arrives or Config.ClaimHold (default
// DefaultClaimHold, 2 minutes) has passed since that author's claim was first seen. Each
// author starts at most one such wait until the epoch changes: claiming again, the same
// epoch or another, does not restart it. The creator's state is authoritative: its arrival
// (Engine.Update) clears the mark and ends every wait, and an author whose claim it shows
// false no longer stops posting until the epoch changes. A claim carried by the creator's
// own message (pubsub-signed by it, so true) waits for its state with no time limit. The
// creator never takes a claim: it makes the rotations. So a member claiming a huge epoch
// silences nobody, and one claiming the next epoch holds another member back until the
// creator answers or ClaimHold passes, whichever is first; past it the member posts under
// the key it holds (readable by a removed member if the claim was true) and logs that the
// key may be out of date.
//
// # Sync protocol
//
// SyncProtocol: a member asks another for messages it may have missed, one request frame
// (at most MaxSyncRequest bytes) per page frame (at most MaxSyncPageBytes), each request
// continuing after the last message of the previous page.
//
//	request: 1 room bytes (16), 2 since varint (Unix ns; absent: all), 3 after bytes
//	         (cursor; absent: from the start), 4 limit varint (1..MaxSyncPage; absent:
//	         MaxSyncPage)
//	cursor:  1 lamport varint, 2 clock varint (Unix ns), 3 author bytes, 4 id bytes
//	page:    1 message bytes (repeated, as in an envelope's plaintext, signature included,
//	         strictly ascending in Compare order, at most MaxSyncPage), 2 more varint (0/1)
//
// The page holds the messages after the cursor in Compare order whose clock is at or after
// since. The asker hands each to Engine.Deliver, which checks the author's signature.
package room
