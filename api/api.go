// Package api defines the JSON documents and paths of the node's local HTTP API.
//
// It is the vocabulary shared by the node (which produces these values), the local API
// server (which serves them) and the client package (which the CLI uses). It imports
// nothing beyond the standard library so that clients never pull in libp2p.
//
// Every request carries "Authorization: Bearer TOKEN", the token being the contents of
// HOME/api.token (mode 0600). Errors come back as an Error document with a 4xx/5xx status.
package api

import (
	"errors"
	"time"
)

// Version of Parley.
const Version = "0.1.0"

// Paths of the local API, all under /v1.
const (
	PathStatus   = "/v1/status"   // GET: Status
	PathPeers    = "/v1/peers"    // GET: PeerList
	PathSend     = "/v1/send"     // POST SendRequest: SendResult
	PathHistory  = "/v1/history"  // GET ?peer=&search=&since=&until=&limit=: MessageList
	PathEvents   = "/v1/events"   // GET: text/event-stream of Event, one per "data:" line
	PathPing     = "/v1/ping"     // POST ?peer=: PingResult
	PathPresence = "/v1/presence" // GET: Presence; POST Presence: Presence
	PathContacts = "/v1/contacts" // GET: ContactList; POST ContactRequest: Contact
	// PathContacts + "/{peer}": DELETE; + "/{peer}/block", "/{peer}/unblock": POST, Contact.
	PathRead = "/v1/read" // POST ReadRequest: ReadResult; marks a conversation read and tells the sender

	PathExport = "/v1/history/export" // GET ?peer=&search=&since=&until=: JSON lines, one Message each
	PathReport = "/v1/history/report" // GET ?since=&until=&gap=&min=: Report
	PathPurge  = "/v1/history/purge"  // POST PurgeRequest: PurgeResult

	PathTransfers = "/v1/transfers" // GET: TransferList; POST SendFilesRequest: Transfer
	// PathTransfers + "/{id}": GET Transfer; + "/{id}/accept", "/{id}/cancel": POST, Transfer.

	PathRooms = "/v1/rooms" // GET: RoomList; POST RoomCreateRequest: Room

	PathMailbox = "/v1/mailbox" // GET: MailboxStatus
	// PathRooms + "/join": POST RoomJoinRequest: Room (accepts a pending invite).
	// PathRooms + "/decline": POST RoomJoinRequest: RoomInvite (turns a pending invite down).
	// PathRooms + "/{room}/invite", "/{room}/remove": POST RoomPeerRequest: Room.
	// PathRooms + "/{room}/leave": POST: Room. {room} is a room's name or ID.

	// PathContacts + "/{peer}/verify": GET Verification (the safety number to compare);
	// POST: Verification, and the contact is marked verified.
)

// Files the running node keeps in its home directory for clients.
const (
	TokenFile = "api.token" // bearer token, mode 0600
	AddrFile  = "api.addr"  // host:port the API listens on; removed when the node stops
	PortFile  = "api.port"  // the API's port at the last start, tried first at the next; kept
	// SessionsFile holds the web app's sessions (SHA-256 of each token and its times,
	// never a token), mode 0600, so a login outlives a restart of the node.
	SessionsFile = "web-sessions.json"
)

// Status describes the running node (`parley id`).
type Status struct {
	PeerID      string    `json:"peer_id"`
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	Addrs       []string  `json:"addrs"`
	Home        string    `json:"home"`
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	// STUN lists the STUN servers (host:port) the node uses: `up --stun`, else each
	// rendezvous server on port 3478; empty with --stun off or no rendezvous server.
	STUN []string `json:"stun,omitempty"`
}

// Presence values. A peer is shown online, away, busy or offline; invisible is what a
// user may choose for themselves: others then see them offline while they still receive.
const (
	PresenceOnline    = "online"
	PresenceAway      = "away"
	PresenceBusy      = "busy"
	PresenceInvisible = "invisible"
	PresenceOffline   = "offline"
)

// Presence is what this node shows others (GET/POST PathPresence).
type Presence struct {
	Presence string `json:"presence"`
	Status   string `json:"status,omitempty"`
	Auto     bool   `json:"auto,omitempty"` // away because the user was idle
}

// Peer is another node this one knows about (`parley peers`).
type Peer struct {
	PeerID string `json:"peer_id"`
	Name   string `json:"name"`
	// DisplayName is what this node calls the peer (a contact's nickname, the name it
	// announces, …): clients show it rather than derive their own.
	DisplayName string    `json:"display_name,omitempty"`
	Presence    string    `json:"presence"`
	Status      string    `json:"status"`
	Via         string    `json:"via"` // how it was found: mdns, static, inbound
	Connected   bool      `json:"connected"`
	Relayed     bool      `json:"relayed"`
	Addrs       []string  `json:"addrs"`
	LastSeen    time.Time `json:"last_seen"`
	Warning     string    `json:"warning,omitempty"` // e.g. it announces a contact's name: shown to the user
}

// PeerList is the answer to GET PathPeers.
type PeerList struct {
	Peers []Peer `json:"peers"`
}

// Message states, as `parley history` shows them.
const (
	StateSent      = "sent"
	StateDelivered = "delivered"
	StateRead      = "read"
	StateQueued    = "queued"
	StateFailed    = "failed"
	StateReceived  = "received"
	StateHeld      = "held" // queued, and deposited at the recipient's mailboxes (Message.HeldAt)
)

// Message is one direct message, sent or received.
type Message struct {
	// ID is the sender's choice: another sender, or another conversation, may use the
	// same one. Key names this message alone (the conversation, sender and ID): clients
	// that keep messages by identity key them by Key.
	ID         string    `json:"id"`
	Key        string    `json:"key,omitempty"`
	From       string    `json:"from"`
	FromName   string    `json:"from_name,omitempty"`
	To         string    `json:"to"`
	ToName     string    `json:"to_name,omitempty"`   // what we call the recipient (outgoing only)
	Room       string    `json:"room,omitempty"`      // room ID, for room messages
	RoomName   string    `json:"room_name,omitempty"` // the room's name, for room messages
	Text       string    `json:"text"`
	SentAt     time.Time `json:"sent_at"`
	ReceivedAt time.Time `json:"received_at,omitzero"`
	Direction  string    `json:"direction"` // "in" or "out"
	State      string    `json:"state"`
	// Order is a room message's place in the room, the same on every member's node
	// (Lamport counter, author clock, author, ID): clients sort a room's messages by it,
	// in byte order. Direct messages have none; they go by SentAt.
	Order string `json:"order,omitempty"`
	// FromDisplay is what this node calls the sender, and FromWarning what the user must
	// know about them (e.g. a possible impersonation); clients show these as they are.
	FromDisplay string `json:"from_display,omitempty"`
	FromWarning string `json:"from_warning,omitempty"`
	// HeldAt: a held message's mailboxes (peer IDs) that keep it.
	HeldAt []string `json:"held_at,omitempty"`
}

// MessageList is the answer to GET PathHistory.
type MessageList struct {
	Messages []Message `json:"messages"`
}

// MaxText is the most text one message holds, direct or in a room, in bytes of UTF-8
// (node/dm.MaxText and room.MaxText, which the node's tests hold equal to it).
const MaxText = 32 << 10

// SendRequest asks the node to send Text to To (a peer ID, a peer's name, or "#" and a room's name or ID).
type SendRequest struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

// SendResult is the message as stored after the attempt. Error is set when the message
// was stored but not delivered. RoundTrip is the time from opening the stream to the
// recipient's ACK (which it sends once the message is in its archive), as the node
// measured it.
type SendResult struct {
	Message   Message       `json:"message"`
	Error     string        `json:"error,omitempty"`
	RoundTrip time.Duration `json:"round_trip_ns,omitempty"`
}

// PingResult is the answer to POST PathPing: one libp2p ping round trip.
type PingResult struct {
	PeerID    string        `json:"peer_id"`
	RoundTrip time.Duration `json:"round_trip_ns"`
}

// Transfer states; the last six are final.
const (
	TransferHashing      = "hashing"
	TransferWaiting      = "waiting"      // offered; the receiver has not accepted yet
	TransferPending      = "pending"      // incoming; waiting for `parley transfers accept`
	TransferTransferring = "transferring" // data moving
	TransferPaused       = "paused"       // peer away or a local problem; resumes by itself
	TransferScanning     = "scanning"
	TransferCompleted    = "completed"
	TransferQuarantined  = "quarantined"
	TransferRejected     = "rejected"
	TransferFailed       = "failed"
	TransferCanceled     = "canceled"
)

// TransferFile is one file of a transfer.
type TransferFile struct {
	Path string `json:"path"` // relative, slash-separated
	Size int64  `json:"size"`
	Done int64  `json:"done"`
}

// Transfer is one file transfer, either way (`parley transfers`). Any unique prefix of
// its ID names it in the API and the CLI.
type Transfer struct {
	ID           string         `json:"id"`
	Direction    string         `json:"direction"` // "out" or "in"
	PeerID       string         `json:"peer_id"`
	PeerName     string         `json:"peer_name,omitempty"`
	State        string         `json:"state"`
	Error        string         `json:"error,omitempty"`
	Files        []TransferFile `json:"files,omitempty"` // the first 10 in a listing or event; all in GET PathTransfers/{id}
	FileCount    int            `json:"file_count"`      // files and folders in the transfer
	TotalBytes   int64          `json:"total_bytes"`
	DoneBytes    int64          `json:"done_bytes"`
	ResumedBytes int64          `json:"resumed_bytes,omitempty"`
	SentBytes    int64          `json:"sent_bytes,omitempty"`
	Rate         float64        `json:"rate_bytes_per_s"`
	StartedAt    time.Time      `json:"started_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Downloads    string         `json:"downloads,omitempty"` // where an incoming transfer's files land

	// What people are shown (the CLI and web app take them as they are):
	Name        string `json:"name"`           // its one top-level file or folder, or "a.txt and 2 more"
	FolderCount int    `json:"folder_count"`   // the folders among FileCount
	Note        string `json:"note,omitempty"` // one short line on why it is paused or ended ("Bob is offline; resumes when they are back"); Error keeps the whole reason
}

// Final reports whether the transfer has ended.
func (t Transfer) Final() bool {
	switch t.State {
	case TransferCompleted, TransferQuarantined, TransferRejected, TransferFailed, TransferCanceled:
		return true
	}
	return false
}

// TransferList is the answer to GET PathTransfers.
type TransferList struct {
	Transfers []Transfer `json:"transfers"`
}

// SendFilesRequest offers files and folders (absolute paths on the node's machine) to To.
type SendFilesRequest struct {
	To    string   `json:"to"`
	Paths []string `json:"paths"`
}

// Contact is a person in the buddy list, or a blocked peer, with their presence.
type Contact struct {
	PeerID   string `json:"peer_id"`
	Nickname string `json:"nickname,omitempty"`
	Name     string `json:"name,omitempty"` // the display name they announce
	// DisplayName is what this node calls them (nickname, else the name they announce).
	DisplayName string    `json:"display_name,omitempty"`
	Group       string    `json:"group,omitempty"`
	Contact     bool      `json:"contact"` // in the buddy list
	Blocked     bool      `json:"blocked"`
	AddedAt     time.Time `json:"added_at"`
	Presence    string    `json:"presence"`
	Status      string    `json:"status,omitempty"`
	Verified    bool      `json:"verified"`          // the safety number was compared (contacts verify)
	Warning     string    `json:"warning,omitempty"` // e.g. a possible impersonation: shown to the user
}

// Verification is what two people compare to know they talk to each other's real key.
type Verification struct {
	PeerID       string `json:"peer_id"`
	Name         string `json:"name,omitempty"`
	SafetyNumber string `json:"safety_number"` // 60 digits in groups of 5, the same on both sides
	Verified     bool   `json:"verified"`
	Fingerprint  string `json:"fingerprint"`    // theirs (parley id shows it on their side)
	Ours         string `json:"my_fingerprint"` // this node's
}

// Room is a group chat this node is a member of.
type Room struct {
	ID       string       `json:"id"` // 32 hex digits; the topic is named from it
	Name     string       `json:"name"`
	Announce bool         `json:"announce"` // only owners post
	Epoch    uint64       `json:"epoch"`    // key epoch; bumped when a member is removed
	Owner    bool         `json:"owner"`    // this node is an owner
	Members  []RoomMember `json:"members"`
}

// RoomMember is one member of a room.
type RoomMember struct {
	PeerID   string `json:"peer_id"`
	Name     string `json:"name,omitempty"`
	Owner    bool   `json:"owner"`
	Presence string `json:"presence"`
}

// RoomInvite is an invitation waiting for `room join ID` (it came from a non-contact).
type RoomInvite struct {
	ID         string    `json:"id"` // the room ID, to pass to join
	Name       string    `json:"name"`
	From       string    `json:"from"`
	FromName   string    `json:"from_name,omitempty"`
	Announce   bool      `json:"announce"`
	Members    int       `json:"members"`
	ReceivedAt time.Time `json:"received_at"`
}

// RoomList is the answer to GET PathRooms.
type RoomList struct {
	Rooms   []Room       `json:"rooms"`
	Invites []RoomInvite `json:"invites"`
}

// RoomCreateRequest makes a room.
type RoomCreateRequest struct {
	Name     string `json:"name"`
	Announce bool   `json:"announce,omitempty"`
}

// RoomJoinRequest accepts the pending invite to the room with this ID.
type RoomJoinRequest struct {
	ID string `json:"id"`
}

// RoomPeerRequest names a peer (ID or name) to invite to or remove from a room.
type RoomPeerRequest struct {
	Peer string `json:"peer"`
}

// ContactList is the answer to GET PathContacts.
type ContactList struct {
	Contacts []Contact `json:"contacts"`
}

// ContactRequest adds a peer (ID or the name of a peer seen) to the buddy list, or
// changes its nickname and group.
type ContactRequest struct {
	Peer     string `json:"peer"`
	Nickname string `json:"nickname,omitempty"`
	Group    string `json:"group,omitempty"`
}

// ReadRequest marks every message received from Peer as read.
type ReadRequest struct {
	Peer string `json:"peer"`
}

// ReadResult says how many messages changed to read.
type ReadResult struct {
	Marked int `json:"marked"`
}

// ConversationTime is time spent in conversation with one peer (`history --report`).
type ConversationTime struct {
	PeerID   string        `json:"peer_id"`
	Name     string        `json:"name,omitempty"`
	Sessions int           `json:"sessions"`
	Messages int           `json:"messages"`
	Duration time.Duration `json:"duration_ns"`
	First    time.Time     `json:"first"`
	Last     time.Time     `json:"last"`
}

// Report is the answer to GET PathReport.
type Report struct {
	Since      time.Time          `json:"since,omitzero"`
	Until      time.Time          `json:"until,omitzero"`
	Gap        time.Duration      `json:"gap_ns"`         // a silence longer than this ends a session
	MinSession time.Duration      `json:"min_session_ns"` // added to every session
	Peers      []ConversationTime `json:"peers"`
}

// PurgeRequest deletes messages sent before Before (queued ones are kept).
type PurgeRequest struct {
	Before time.Time `json:"before"`
}

// PurgeResult says how many messages were deleted.
type PurgeResult struct {
	Deleted int64 `json:"deleted"`
}

// Event kinds on the event stream.
const (
	EventMessage  = "message"       // a message was sent or received: Message
	EventState    = "message_state" // a message changed state: Message
	EventPeer     = "peer"          // a peer appeared, changed or went offline: Peer
	EventTransfer = "transfer"      // a transfer changed state or made progress: Transfer
	EventRoom     = "room"          // a room was joined, changed or left, or an invite arrived: Room or Invite
)

// Event is one entry of the live event stream.
type Event struct {
	Type     string      `json:"type"`
	Time     time.Time   `json:"time"`
	Message  *Message    `json:"message,omitempty"`
	Peer     *Peer       `json:"peer,omitempty"`
	Transfer *Transfer   `json:"transfer,omitempty"`
	Room     *Room       `json:"room,omitempty"`
	Invite   *RoomInvite `json:"invite,omitempty"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"` // machine-readable: unknown_peer, ambiguous_peer, bad_request, blocked, unauthorized
}

// Error codes callers may branch on.
const (
	CodeUnknownPeer   = "unknown_peer"
	CodeAmbiguousPeer = "ambiguous_peer"
	CodeBadRequest    = "bad_request"
	CodeUnauthorized  = "unauthorized"
	CodeNotFound      = "not_found"
	CodeBlocked       = "blocked" // a message to a peer this node blocked
	CodeInternal      = "internal"
)

// HistoryQuery selects archived messages (the query string of PathHistory).
type HistoryQuery struct {
	Peer   string    // peer ID or name; empty for every conversation
	Search string    // full-text words
	Since  time.Time // zero: no lower bound
	Until  time.Time // zero: no upper bound
	Limit  int       // 0: the node's default
}

// Conditions the node reports and callers branch on (with errors.Is).
var (
	ErrUnknownPeer   = errors.New("unknown peer")
	ErrAmbiguousPeer = errors.New("more than one peer has that name")
	ErrBadRequest    = errors.New("request not accepted")
	ErrNotFound      = errors.New("not found")
	ErrBlocked       = errors.New("blocked") // the peer is blocked: unblock it first
)

// MailboxStatus is the answer to GET PathMailbox: what this node keeps for others (if
// it is a mailbox host: counts per recipient, never contents) and where its own mail is
// kept.
type MailboxStatus struct {
	Serving bool             `json:"serving"`
	Held    []MailboxHolding `json:"held,omitempty"`
	Metrics *MailboxMetrics  `json:"metrics,omitempty"`
	Mine    []MailboxMine    `json:"mine"`
}

// MailboxHolding is what a mailbox host keeps for one recipient (a peer or a room).
type MailboxHolding struct {
	Recipient string `json:"recipient"` // a peer ID, or a room ID in hex
	Kind      string `json:"kind"`      // "peer" or "room"
	Name      string `json:"name,omitempty"`
	Count     int    `json:"count"`
	Bytes     int64  `json:"bytes"`
}

// MailboxMetrics are a mailbox host's counters since it started.
type MailboxMetrics struct {
	Held      int64  `json:"held"`
	HeldBytes int64  `json:"held_bytes"`
	Deposited uint64 `json:"deposited"`
	Refused   uint64 `json:"refused"`
	Fetched   uint64 `json:"fetched"`
	Acked     uint64 `json:"acked"`
	Expired   uint64 `json:"expired"`
}

// MailboxMine is what one of the mailboxes this node fetches from holds for it.
type MailboxMine struct {
	Mailbox string    `json:"mailbox"` // its peer ID
	Count   int       `json:"count"`
	Bytes   int64     `json:"bytes"`
	Oldest  time.Time `json:"oldest,omitzero"`
	Error   string    `json:"error,omitempty"` // it could not be asked
}
