// Package mailbox keeps sealed mail for peers that are offline: /parley/mailbox/1.0.0,
// its store, server and client, and the sealing of envelopes to a recipient's key.
//
// Any node can be a mailbox (an always-on desktop, the rendezvous server). A depositor
// leaves an envelope for a recipient; the recipient, authenticated by the transport (the
// stream's remote peer), fetches it later and acknowledges it, which deletes it. The
// envelope is sealed end to end (HPKE to the recipient's mailbox key, the author's
// signature inside), so the mailbox learns only the recipient, the size, the times and
// the depositor (see SECURITY.md, "A mailbox host").
//
// Like transfer.Manager, the package knows nothing of the node: a Server takes a host, a
// directory and callbacks (Config); a Client takes a host.
//
// # Streams
//
// The client opens a stream and writes requests one at a time; the mailbox answers each
// in order with one answer frame. Either side may close the stream after an answer. A
// malformed, oversized or unknown frame resets the stream. The mailbox waits at most
// IdleTimeout (30 s) for a request and WriteTimeout (10 s) to write an answer; the
// client bounds each request and its answer with Client.Timeout (10 s).
//
// # Frames
//
//	frame   = length body
//	length  = uvarint, the number of bytes in body; capped per type before allocating
//	body    = type payload
//	type    = 1 byte: requests 0x01 DEPOSIT, 0x02 FETCH, 0x03 ACK, 0x04 STATUS;
//	          answers  0x81 DEPOSITED, 0x82 MAIL, 0x83 ACKED, 0x84 COUNTS
//	payload = protobuf wire format, encoded by hand; unknown fields are skipped
//
// Frames are read with internal/wire's Reader: the length is checked against the cap of
// its type before anything is allocated, memory is reserved with the stream's resource
// scope, and frames over wire.SmallFrame take a place in Config.FrameBudget. Caps of the
// body (type byte included): DEPOSIT MaxRequestFrame (66 KiB), FETCH and STATUS 256 B,
// ACK 256 B + 11 B per id, MAIL MaxAnswerFrame (1 MiB + 80 KiB), the other answers 64 B.
//
// Every request starts with the address it is about:
//
//	1 kind      varint  1 peer, 2 room, 3 person (reserved); 1..127
//	2 id        bytes   1..MaxAddressID (64): a peer ID's bytes, a room's ID
//
// DEPOSIT (keep an envelope):
//
//	1, 2        address the recipient
//	3 envelope  bytes   1..MaxEnvelope (64 KiB); opaque to the mailbox
//	4 ttl       varint  seconds; absent: the mailbox's TTL (default 14 days); more than
//	                    its maximum (default 30 days): the maximum
//	5 secret    bytes   rooms only: the room's fetch secret (RoomSecret), 16..64 bytes
//
// FETCH (the recipient asks for its mail, one page):
//
//	1, 2        address the caller's own peer address, or a room
//	3 after     varint  the last envelope id already seen; absent: from the start
//	4 limit     varint  envelopes wanted, 1..MaxPage (100); absent: 100
//	5 secret    bytes   rooms only
//
// ACK (the recipient has stored these; delete them; peers only):
//
//	1, 2        address the caller's own peer address
//	3 id        varint  repeated, at most MaxAckIDs (100)
//
// STATUS (counts only):
//
//	1, 2        address the caller's own peer address, or a room
//	5 secret    bytes   rooms only
//
// DEPOSITED:  1 status varint; 2 id varint (the envelope's id here, increasing in deposit
// order); 3 expires varint (Unix ns).
//
// MAIL:  1 status; 2 item bytes, repeated, at most 100 and 1 MiB of envelopes together
// (a page holds at least one), each {1 id varint, 2 envelope bytes, 3 deposited varint
// (Unix ns), 4 expires varint}; 3 more varint (1: more is held after the last item).
// Items come in id order, so in deposit order; expired envelopes are never served.
//
// ACKED:  1 status; 2 deleted varint (ids already gone, or someone else's, count nothing).
//
// COUNTS:  1 status; 2 count; 3 bytes; 4 oldest varint (Unix ns of the oldest deposit).
//
// # Status codes
//
//	0 ok
//	1 full         the mailbox's disk cap or this recipient's box is full
//	2 quota        the depositor's own share (or all strangers' share) is used up
//	3 too large    the envelope is over the mailbox's size limit
//	4 not allowed  not the recipient; a room request without a secret; refused by Accept
//	5 rate limited too many requests from this peer; try again later
//	6 unsupported  an address kind this mailbox does not serve (3, person, today)
//	7 internal     the mailbox failed (its disk); try again later
//
// A client treats an unknown status as 7. Whatever the refusal, a depositor keeps its
// message queued locally (and retries, or tries another mailbox); StatusError maps each
// status to an error callers branch on with errors.Is (ErrFull, ErrQuota, ...).
//
// # Who may do what
//
// Only the peer an address names may FETCH, ACK or STATUS it: the mailbox compares the
// address with the stream's remote peer, which the libp2p handshake authenticated; a
// request for another peer's address is answered "not allowed". Anyone may DEPOSIT for
// anyone, within the quotas (Config.Accept may refuse a depositor or a recipient).
//
// Rooms: a room's mail is addressed to the room's ID (kind 2) and carries a fetch secret,
// RoomSecret(roomKey, roomID, epoch) = HKDF-SHA256(room key, info = label, room ID,
// epoch), which only holders of the room key can compute. The mailbox stores SHA-256 of
// the secret beside each envelope and serves a FETCH or STATUS only the envelopes stored
// under the same hash: without the key there is nothing to fetch (a wrong secret gets an
// empty page), and nobody without the key can deposit where members look. Room mail is
// never deleted by a fetch (every member needs it) and ACK answers "not allowed": it goes
// at its TTL, and a member keeps the last id it fetched as its cursor. A member fetches
// with the secret of each epoch whose key it holds. The envelopes are those the room
// already publishes (sealed with the room key and signed by their author, room/seal.go);
// a removed member holding an older key can fetch only older epochs' mail, which it
// could read anyway. Abuse is limited like peers' mail: a depositor must know the
// secret, the room's box has a recipient quota (the contact quota if IsKnownRoom says
// the owner is a member, else the stranger quota), depositors' and strangers' quotas
// and the rate limit apply, and members drop what does not open or whose author is not a
// member.
//
// A person with several devices (later): kind 3 is reserved for a person's address, its
// id a person key's hash. A FETCH for it will carry (in a new field) a device
// certificate, the device's peer ID signed by the person key, which the mailbox checks
// against the id before treating the stream's peer as that person; envelopes are then
// sealed once per device (their mailbox keys listed in the person's signed profile) or
// to a person key. Today a mailbox answers kind 3 "unsupported", and a sender deposits
// one envelope per device, each under that device's peer address.
//
// # Sealing
//
// A node's mailbox key is an X25519 key derived from its Ed25519 identity key
// (DeriveKey: HPKE DeriveKeyPair over the first 32 bytes of SHA-512 of a label and the
// identity key), so
// nothing new is stored and the same identity always has the same key. Its public half
// is published as a KeyBinding (1 KEM id 0x0020, 2 public key, 3 signature by the
// identity key over a label, the peer ID, the KEM id and the key), which a sender checks
// against the recipient's peer ID (the peer ID embeds the Ed25519 key) before sealing.
//
// An envelope is
//
//	0x01 || HPKE base-mode Seal(recipient's mailbox key, info = label || recipient peer ID, inner)
//
// with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20-Poly1305 (RFC 9180), where
// inner is {1 letter bytes, 2 signature bytes}, the signature being the author's
// identity key's over a label and the letter, and the letter is {1 author peer ID,
// 2 recipient peer ID, 3 message id (1..64 bytes), 4 created_at (Unix ns), 5 body}. Open
// checks, in order: the version, the HPKE open under this node's key and peer ID
// (ErrNotForMe), the author's signature (ErrForged), and that the letter names this
// node as recipient (ErrReplayed: a recipient that re-seals a letter it received to
// someone else cannot make it look written for them). The body is what the node
// carries: a node/dm MESSAGE or READ frame, so receipts come back the same way.
//
// # Store
//
// SQLite (modernc.org/sqlite) in Dir/mailbox.db (0600, Dir 0700), WAL and synchronous
// NORMAL as archive/ uses: a deposit is committed (written to the -wal file) before its
// DEPOSITED answer, so a killed mailbox process loses nothing it acknowledged; only an
// OS crash can roll back the last commits, and the depositor still holds its own copy.
// Ids are AUTOINCREMENT, never reused. Counts and bytes per recipient, per depositor, of
// all strangers and in total are kept in memory, rebuilt from the file at open; a quota
// check and its insert are one step. Expired envelopes are not served, and are deleted
// by the purge loop (every PurgeEvery, 10 min, and at open) and counted (Metrics.Expired).
//
// # Quotas (defaults; the zero value of a Quotas field means its default)
//
//	Total              200,000 envelopes, 1 GiB      everything held: the disk cap     -> full
//	RecipientContact    10,000 envelopes, 256 MiB    per recipient who is a contact    -> full
//	RecipientStranger    1,000 envelopes, 32 MiB     per other recipient               -> full
//	DepositorContact    10,000 envelopes, 256 MiB    held from one contact             -> quota
//	DepositorStranger      200 envelopes, 4 MiB      held from one stranger            -> quota
//	Strangers            5,000 envelopes, 64 MiB     held from all strangers together  -> quota
//	MaxEnvelope         64 KiB                       one envelope                      -> too large
//
// "Contact" is Config.IsContact's answer about the mailbox owner's contacts. Peer IDs
// are free, so strangers share one quota beside their own: a crowd of fresh identities
// fills Strangers, never the contacts' room. A deposit's quotas are those of its
// depositor and of its recipient; a depositor's stranger status is recorded with each
// envelope, so the shares stay right when contacts change.
//
// # Wiring into the node
//
// node/mailbox.go and node/mailsend.go do this (rooms not yet); the node uses:
//
//   - NewServer(Config{Host, Dir: HOME/mailbox, TTL (--mailbox-ttl), Quotas (flags),
//     IsContact (the contact list), IsKnownRoom (rooms it is a member of), Accept (refuse
//     blocked peers), Limit (a ratelimit.Limiter per peer: node.MailboxRate, 20
//     requests a second in bursts of 200; a deposit is one request, a Fetch of n
//     envelopes 2·⌈n/100⌉, so a burst lets a recipient take 10,000 at once), FrameBudget (node.frameBudget), Logger}) for `up --mailbox` and
//     `rendezvous serve --mailbox`; Server.Close in the node's Close; Server.Metrics
//     (held, deposited, fetched, acked, expired, refused) for the rendezvous metrics, and
//     Server.Holdings (counts and bytes per recipient) for `parley mailbox status`.
//   - DeriveKey(identity key) once at start; Key.Binding().Marshal() in the signed
//     profile, beside the list of mailboxes the node fetches from; ParseKeyBinding and
//     KeyBinding.Verify(peer) on a contact's profile.
//   - Seal(identity key, Letter{To, ID: the message ID, CreatedAt, Body: a dm frame},
//     recipient's binding), then Client.Deposit (or DepositAll) at each of the
//     recipient's mailboxes, keeping the message queued until the delivery receipt; a
//     refusal (ErrFull, ErrQuota, ...) leaves it queued.
//   - Client.Fetch(ctx, mailbox, PeerAddress(self), nil, 0, deliver) when a mailbox is
//     reachable; deliver opens the envelope (Key.Open), drops and logs one that does not
//     open, and returns only once the message is in the archive, which dedupes by
//     message ID, sender and conversation: a fetch whose ACK was lost is served again,
//     and the archive makes it exactly once. Client.Status for `mailbox status`.
//   - Rooms: Client.Deposit(Deposit{To: RoomAddress(id), Envelope: the room envelope,
//     Secret: RoomSecret(key, id, epoch)}) when a post reaches no member, and
//     Client.Fetch(..., RoomAddress(id), secret, cursor, deliver) on joining, keeping
//     the cursor per room and mailbox.
package mailbox
