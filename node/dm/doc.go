// Package dm implements Parley's direct-message protocol, /parley/dm/1.0.0.
//
// # Streams
//
// The sender opens a stream to the recipient and writes one or more MESSAGE (or READ)
// frames; the recipient answers each with an ACK frame once the message is safely in its
// archive (so an ACK means "stored", not merely "read off the wire"). Either side may close the stream
// after the last ACK. Any malformed, oversized or unexpected frame resets the stream.
// Every read and write has a deadline, so a peer that went away never blocks us.
//
// # Frames
//
//	frame   = length body
//	length  = uvarint, the number of bytes in body, 1 ≤ length ≤ MaxFrame
//	body    = type payload
//	type    = 1 byte: 0x01 MESSAGE, 0x02 ACK, 0x03 READ
//	payload = protobuf wire format (fields below); unknown fields are skipped
//
// MESSAGE fields:
//
//	1 id        bytes   1..MaxIDLen, unique per message, chosen by the sender
//	2 sent_at   varint  the sender's clock, Unix nanoseconds
//	3 text      bytes   UTF-8, at most MaxText bytes
//	4 from_name bytes   the sender's display name, at most MaxNameLen bytes
//
// ACK fields:
//
//	1 id        bytes   the id of the acknowledged MESSAGE
//	2 status    varint  0 stored, 1 duplicate (stored earlier), 2 rejected
//	3 reason    varint  why a message was rejected: 1 over the sender's rate limit,
//	                    2 the recipient's share for senders it does not know is used up;
//	                    absent (0) from older nodes, and left out by us when there is none
//
// A rejected message is not stored; whatever the reason, the sender keeps it queued
// and sends it again later. Older nodes skip field 3 (unknown fields are skipped) and
// see a plain rejection, which they already queue and retry; a reason this node does not
// know reads as a plain rejection too.
//
// READ fields (a read receipt: the recipient's user has seen these messages; answered by
// an ACK carrying the first id):
//
//	1 id        bytes   repeated, 1..MaxReadIDs of them, each 1..MaxIDLen bytes
//
// The length is checked against MaxFrame before anything is allocated, and the frame's
// memory is reserved with the stream's resource-manager scope as its bytes arrive
// (ReadFrameFrom, internal/wire): a peer that claims 64 KiB and sends ten bytes holds
// about 4 KiB, until the stream's deadline cuts it.
//
// # Rate limit
//
// With WithLimiter, every MESSAGE and READ frame takes a token from the sending peer's
// bucket. A frame over the limit is answered with status 2 (rejected), reason 1, and not
// stored: an honest sender keeps the message queued and retries later. A peer that goes on sending
// while refused (the limiter calls it abusive) has its stream reset and its connections
// closed. Other peers' buckets are untouched.
//
// # Strangers' share
//
// The Inbox may refuse a MESSAGE for now (ErrInboxFull): the node does so when the one
// budget it shares among all senders that are neither contacts nor people its user
// wrote to is used up. The answer is status 2, reason 2; the stream stays open. READ
// frames store nothing new and are not charged.
package dm
