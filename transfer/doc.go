// Package transfer moves files between Parley nodes: /parley/file/1.0.0. A sender offers
// files and folders with their content hashes; the receiver accepts (at once or after the
// user's Accept) and pulls the data in chunks over parallel streams, verifying each chunk
// with BLAKE3 before it writes it. Both sides persist their state, so a transfer resumes
// by itself after either side restarts (even after kill -9), re-fetching only chunks that
// were not yet verified on disk. Received names are validated, and every file operation
// goes through an os.Root of the downloads folder.
//
// The package takes a libp2p host and two directories and reports through a callback
// (Config.OnEvent); it never prints. Manager owns every goroutine it starts; Close stops
// and waits for them.
//
// # Streams
//
// Every stream starts with one frame that says what it is for:
//
//	OFFER   sender → receiver; one ANSWER back; then closed
//	GET     receiver → sender; for each GET the chunks asked for (CHUNK header + raw data)
//	        or an ERROR; the receiver may send more GETs on the same stream (it keeps two
//	        outstanding) and closes it when done
//	DONE    receiver → sender; one ACK back
//	CANCEL  either side → the other; one ACK back
//
// Data moves only over direct connections: a stream is never opened over a limited
// (relayed) connection unless Config.AllowRelay, and a sender refuses a GET arriving on
// one (ERROR relayed). Every read and write has a deadline (30 s per frame or chunk,
// 60 s for an idle data stream), so a peer that vanishes pauses the transfer. An OFFER
// over 64 KiB is read under a progress deadline instead (every 10 s must bring 128 KiB
// or the rest of the frame; internal/wire), so a big manifest over a slow link arrives
// and a sender that stalls mid-frame is cut.
//
// # Frames
//
//	frame   = length type payload
//	length  = uvarint: bytes in type + payload; 1 ≤ length ≤ the cap of the type
//	type    = 1 byte
//	payload = protobuf wire format, fields below; unknown fields are skipped
//
// The cap is checked before anything is allocated: MaxOfferFrame (16 MiB) for an OFFER
// from a contact, Config.StrangerOfferFrame (DefaultStrangerOfferFrame, 2 MiB: some
// 20 000 small files, or 64 GiB in one) for an OFFER from anyone else, MaxSmallFrame
// (4 KiB) for all others. A stranger's OFFER over its cap but within 16 MiB is read past
// (nothing is kept) and answered rejected, "too large", so its sender learns why. A frame
// is then paid for as its bytes arrive (internal/wire): its memory is reserved with the
// stream's resource-manager scope, and an OFFER over 64 KiB also needs a place in
// Config.FrameBudget; a refusal resets the stream, and the sender offers again later.
// A malformed, oversized or unexpected frame resets the stream. Transfer ids are 16 raw bytes on the wire (32 hex characters in the API);
// reasons are UTF-8, at most MaxReason (1024) bytes.
//
//	0x01 OFFER    1 id bytes(16)   2 chunk_size varint   3 entry bytes (repeated, below)
//	              4 fresh varint (1: the user ran Send; absent: an automatic re-offer)
//	              5 nonce bytes(16) (only on a send of files that already went to this peer)
//	              the id comes first, as AppendOffer writes it: a stranger's OFFER that
//	              does not open with it resets the stream (the receiver decides from it
//	              before reading the rest); a contact's may have its fields in any order
//	     entry    1 path bytes   2 kind varint (0 file, 1 directory)   3 size varint
//	              4 mode varint (0644 or 0755 for files, 0755 for directories)
//	              5 chunk_hashes bytes (files: 32 bytes per chunk)   6 file_hash bytes(32)
//	0x02 ANSWER   1 id   2 status varint   3 reason bytes
//	0x03 GET      1 id   2 file varint (entry index)   3 first varint (chunk)   4 count varint (≥ 1)
//	0x04 CHUNK    1 file varint   2 index varint   3 length varint; then exactly length raw
//	              bytes (1 ≤ length ≤ 16 MiB), the chunk's data, outside the frame
//	0x05 DONE     1 id   2 status varint (completed, quarantined or failed)   3 reason bytes
//	0x06 CANCEL   1 id   2 reason bytes
//	0x07 ACK      1 id
//	0x08 ERROR    1 code varint   2 reason bytes
//
// Status: 0 accepted, 1 pending (waits for the receiving user), 2 rejected, 3 completed,
// 4 quarantined, 5 failed, 6 canceled. ERROR code: 1 unknown (no such transfer offered to
// this peer), 2 canceled, 3 changed (a source file changed or vanished since the offer),
// 4 unavailable (a read failed; may clear), 5 relayed, 6 bad request (outside the manifest).
// Codes 1, 3 and 6 fail the transfer; 2 cancels it; others pause it.
//
// # Manifest, hashes and the transfer id
//
// A chunk is chunk_size bytes of a file (the last one shorter). Its hash is BLAKE3-256 of
// its bytes; a file's content hash is BLAKE3-256 of its concatenated chunk hashes, so one
// pass over the file gives both. BLAKE3 over SHA-256: ~3.0 GB/s against ~1.6 GB/s with
// SHA-NI on one core of this machine. The sender hashes before it offers, with up to
// runtime.NumCPU() workers, and caches the chunk hashes of a file it sent (keyed by path,
// size, mtime and chunk size) in StateDir/hashes, so sending it again does not rehash.
// The chunk size is Config.ChunkSize (default ChunkSize, 1 MiB), doubled for an offer
// that would otherwise hold more than 256 Ki chunk hashes (past 256 GiB).
//
// The transfer id is the first 16 bytes of BLAKE3-256("parley/file/1 transfer id\x00" ||
// bytes(sender peer id) || bytes(receiver peer id) || fields 2, 3 and 5 of the OFFER as
// encoded by this package), where bytes(x) is a uvarint length and x. The same files to
// the same peer make the same id while that transfer is unfinished: running Send again
// resumes it (or restarts it if it failed, was rejected or canceled). Once it completed
// or was quarantined, Send adds a random nonce (field 5, also in the manifest on disk),
// so the files go again as a new transfer, which a later Send resumes in turn (the
// sender finds it by the id its manifest would have without a nonce). A sender that
// lost its state and is answered completed or quarantined for a new transfer without a
// nonce sends again with one. A first send has
// no nonce, so its id and its state files are those of nodes older than nonces; such a
// node rejects a nonce'd offer ("the transfer id does not match"), since it skips field
// 5. A receiver recomputes the id and rejects an offer whose id does not match.
//
// # What a receiver checks before it accepts
//
// It validates the whole offer and rejects it, naming the offending entry, for: a path
// that is empty, longer than 4096 bytes, not UTF-8, absolute, holds a backslash or a
// control character, or has a component that is empty, ".", "..", longer than 255 bytes,
// a Windows device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9, with any extension), holds a
// character Windows reserves (: < > " | ? *) or ends in a dot or a space (Windows drops
// them); a top component ".parley-partial" or ".parley-quarantine"; a duplicate path; a
// file that is also used as a directory; two paths, or two folders on the way to them,
// that differ only in case ("Readme" and "README": Windows and macOS would store them as
// one, so the folder would arrive half overwritten); more than MaxEntries (100 000)
// entries; a chunk size outside 64 KiB..16 MiB; chunk hashes that do not add up to the
// size or the content hash; modes other than 0644/0755. A sender refuses the same names
// before it offers, naming the file and saying to rename it. Then its limits: MaxSize per
// transfer, and free disk space (statfs of the downloads folder). Then its policy:
// accepted at once (AcceptAny, or a contact under AcceptContacts) or pending until
// Manager.Accept. With Config.OfferLimit, an offer from a peer over its rate limit is
// rejected first ("too many offers"), and a peer that keeps offering while refused is
// disconnected.
//
// # Offers that wait
//
// Peer IDs cost nothing, so offers from strangers (peers Config.IsContact calls no
// contact) that wait for Accept share one budget, whatever their peer IDs:
// Config.MaxStrangerOffers (DefaultMaxStrangerOffers, 32) offers and
// Config.MaxStrangerOfferBytes (DefaultMaxStrangerOfferBytes, 64 MiB) of OFFER payloads
// together. A stranger's offer past it is answered rejected, "too many offers waiting:
// …"; while the budget is full this is decided from the frame's first bytes (its id),
// and the rest is read past without being kept. Only an id of one of that stranger's own
// transfers (a re-offer, answered from the transfer) is read on; an id the receiver
// knows otherwise (an ended offer's, another peer's) is refused like a new one.
// Contacts' offers never count against it and are never refused by it (each contact may
// leave 32 waiting). An offer waits at most Config.PendingExpiry (DefaultPendingExpiry,
// 24 h; `parley up --offer-expiry`): then its state and manifest files are deleted. A
// stranger's offer that ends while it waits in any other way (its sender cancels it, or
// the user turns it down with Cancel) is deleted the same way at once, and a record of
// one left by an older version is deleted at start. Of each, only a tombstone is kept
// (id, how it ended, when; at most 4096, in StateDir/expired-offers), so a sender that
// offers it again without the user running Send is answered rejected, "expired", or
// canceled; a fresh Send offers it anew. A contact's offer turned down while it waits
// keeps its record (with the summary) but not its manifest. A waiting offer, also one
// sent again after it was canceled, keeps only a summary in memory (file count, total
// size, the first MaxListedFiles names, in its record too); its manifest stays in
// StateDir/<id>.manifest until Accept loads it, so neither memory nor a restart pays for
// it. List and OnEvent carry that summary for every transfer
// (Info.FileCount, Info.Files of at most MaxListedFiles); Get lists every file.
//
// # Pulling and verification
//
// The receiver opens Config.Streams data streams (default DefaultStreams) and asks for the
// missing chunks in runs of up to 8 MiB. It reads each chunk into one buffer per stream,
// hashes it, and writes it at its offset in the .part file only if the hash matches; a
// chunk that does not match is asked for again, and after 3 failures the transfer fails
// ("the sender's data does not match its offer"). Only whole verified chunks are written.
// A sender serves only transfers it offered to the very peer asking, and only ranges
// inside the manifest; before serving a file it checks that its size and mtime are those
// it hashed.
//
// # Completion
//
// When every chunk is verified the receiver, for each file: fsyncs the .part file, runs
// Config.ScanCmd on it (if set; a non-zero exit, or a scanner that cannot run, refuses it),
// sets mode 0644 (never an exec bit), and places it under the name chosen for its top-level
// entry: "photos", or "photos (1)" if the name is taken (decided once, persisted before
// anything is placed). Placing is a hard link then removing the .part (a link never
// replaces an existing file), or a rename after checking the name is free where links are
// not supported. Files the scanner refused stay as .part files in .parley-quarantine/<id>/.
// The receiver then sends DONE {completed | quarantined | failed, reason} until the sender
// acknowledges it (or a re-offer learns the outcome from the ANSWER).
//
// # Resume
//
// Both sides keep StateDir/<id>.manifest (written once) and StateDir/<id>.json (state,
// peer, sources or chosen names, summary), replaced atomically (temporary file, fsync, rename,
// fsync of the directory). On New, unfinished transfers resume by themselves: a receiver
// re-verifies the chunks present in its .part files (keeping only those whose hash
// matches, reported as Info.ResumedBytes) and pulls the rest; a sender offers again and
// is answered accepted, and the receiver goes on pulling. While the peer is unreachable
// both retry with backoff from 2 s to 30 s; an incoming offer or a poke wakes them.
//
// # On disk, under the downloads folder
//
//	.parley-partial/<id>/<path>.part      while chunks arrive (0600)
//	<top or "top (n)">/<rest of path>     released files (0644) and directories (0755)
//	.parley-quarantine/<id>/<path>.part   files the scanner refused
package transfer
