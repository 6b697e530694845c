// Package room implements the core of Parley's rooms: end-to-end encrypted group chat on
// gossipsub. It holds a room's state (ID, key, epoch, members), seals and opens room
// messages, and runs an Engine that joins rooms' topics, validates what arrives and
// hands accepted messages to a callback. It also defines the wire formats of the room
// state an owner hands a member, the invite protocol and the history sync protocol; the
// streams that carry them, and storage, live elsewhere.
//
// # Topic
//
// A room's gossipsub topic is named from its random 16-byte ID, never from its name:
//
//	/parley/room/1.0.0/<32 lowercase hex digits of the room ID>
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
//	4 lamport varint  the author's Lamport counter: max(seen)+1
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
// not an owner), or whose author is blocked locally. A dropped message is not forwarded. Membership is always that of the
// current epoch; the previous epoch's key still opens messages that were in flight when
// the key rotated (the removed member held that key anyway), and nothing older does.
//
// Messages that arrive by sync (Engine.Deliver) need a valid author signature for the
// room and an author not blocked; membership is not checked, since a message from a
// since-removed member is legitimate history.
//
// # Order
//
// Every member shows messages in one order: by Lamport counter, then author clock, then
// author ID, then message ID (see Compare). Duplicates, by message ID, are dropped.
//
// # Frames
//
// The invite and sync protocols run on libp2p streams as frames: an unsigned varint
// length, then that many bytes of protobuf (WriteFrame, ReadFrame). A reader refuses a
// length above the protocol's limit before allocating.
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
//
// # Invite protocol
//
// InviteProtocol: the sender writes one frame (AppendInvite, at most MaxInvite bytes) and
// the receiver answers one byte, InviteOK or InviteRefused.
//
//	1 kind  varint  1 invite, 2 update (members or key changed), 3 left (the sender left)
//	2 state bytes   the room state; kinds 1 and 2
//	3 id    bytes   the room ID; kind 3 only
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
