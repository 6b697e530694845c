// Package archive keeps every sent and received message, and the contact
// list, in an embedded SQLite database (WAL), and answers history,
// full-text, offline-delivery and office (export, retention, time report)
// queries.
//
// The database is a single file (plus its -wal and -shm companions) opened
// through the pure-Go driver modernc.org/sqlite, so parley builds with
// CGO_ENABLED=0. A Store is safe for concurrent use by many goroutines:
// writes go through one connection, one at a time, as SQLite requires;
// reads use a pool of read-only connections and run alongside them.
//
// # Durability
//
// Put returns only after its transaction has committed. The node acknowledges
// a received message only after Put returns, so a message that was
// acknowledged survives the parley process being killed at any moment
// (kill -9 included). synchronous=NORMAL is enough for that: in WAL mode a
// commit reaches the kernel with write(2) before COMMIT returns, and only
// checkpoints wait for fsync. An OS crash or power loss (not a process
// crash) can lose the last few commits, but never corrupts the file.
//
// # Schema
//
// Version 1 (PRAGMA user_version = 1):
//
//	messages      one row per message; seq INTEGER PRIMARY KEY AUTOINCREMENT
//	              gives messages with the same sent_at a stable order;
//	              id was UNIQUE (version 5 scopes it, see below), so a
//	              message is stored once however often it arrives;
//	              times are integer unix nanoseconds, UTC,
//	              with 0 standing for the zero time.
//	messages_fts  FTS5 external-content index over messages.body, kept in
//	              sync by the messages_ai/_ad/_au triggers.
//
// Version 2 adds:
//
//	contacts         one row per peer in the buddy list or blocked (or
//	                 both), keyed by peer_id; a CHECK keeps out rows that
//	                 are neither. Ordering for display is done in Go,
//	                 since SQLite's NOCASE folds only ASCII.
//	messages_queued  a partial index on (to_peer, sent_at, seq) of the
//	                 queued messages, for offline delivery.
//
// Version 3 adds rooms and the room messages' Lamport counter and signature;
// version 4 contact verification. Version 5 replaces the UNIQUE index on id
// with one on (id, from_peer, room, to_peer), a message's Key: an ID is the
// sender's choice, so it is unique only for one sender in one conversation
// (a room, or a direct message's recipient). Otherwise a sender could store
// a message under another's ID first, in another conversation, and have the
// real one dropped as a duplicate. Get and SetState take a Key, so nothing
// reaches another sender's message by ID alone. Rows unique by id are unique
// by Key too, so the migration only swaps the index.
//
// Migrations run in order inside one immediate transaction at Open; each
// bumps user_version. An archive written by a newer parley is refused.
//
// # Retention
//
// Purge deletes old messages (never queued ones) in batches of its own
// transactions. The file keeps its size: SQLite reuses the freed pages for
// later messages, so no VACUUM is needed.
//
// # Search
//
// Query.Search is user text, never FTS5 syntax: it is split into words, each
// word is quoted as an FTS5 string and made a prefix query ("hel"* finds
// "hello" and "help"), and a message matches when it has a word starting with
// each of them. Operators such as AND, NEAR, -, * and ( are therefore looked
// for as ordinary text, and since the tokenizer drops punctuation, words made
// only of punctuation are ignored. A search with no letters or digits at all
// is rejected with ErrInvalid; a blank search does not filter. A word with
// punctuation inside ("e-mail") is a phrase of its parts, the last a prefix.
//
// # Reading without the node
//
// OpenReadOnly opens the file with SQLite's mode=ro: it never creates,
// migrates or writes it, so `parley history` can read the archive of a node
// that is not running (or beside one that is: WAL readers do not block the
// writer). It refuses an archive whose schema is not the current one.
package archive
