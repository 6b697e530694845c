package archive

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] takes the schema from user_version i to i+1. Append only:
// never edit a migration that has shipped.
var migrations = []string{
	// 1: messages, their indexes, and the full-text index.
	`
CREATE TABLE messages (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT    NOT NULL,
	from_peer   TEXT    NOT NULL,
	to_peer     TEXT    NOT NULL,
	room        TEXT    NOT NULL DEFAULT '',
	from_name   TEXT    NOT NULL DEFAULT '',
	body        TEXT    NOT NULL,
	sent_at     INTEGER NOT NULL,
	received_at INTEGER NOT NULL DEFAULT 0,
	direction   TEXT    NOT NULL CHECK (direction IN ('out', 'in')),
	state       TEXT    NOT NULL
);
CREATE UNIQUE INDEX messages_id ON messages (id);
CREATE INDEX messages_from_sent ON messages (from_peer, sent_at, seq);
CREATE INDEX messages_to_sent ON messages (to_peer, sent_at, seq);
CREATE INDEX messages_sent ON messages (sent_at, seq);

CREATE VIRTUAL TABLE messages_fts USING fts5 (
	body,
	content = 'messages',
	content_rowid = 'seq',
	tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
	INSERT INTO messages_fts (rowid, body) VALUES (new.seq, new.body);
END;
CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
	INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.seq, old.body);
END;
CREATE TRIGGER messages_au AFTER UPDATE OF seq, body ON messages BEGIN
	INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.seq, old.body);
	INSERT INTO messages_fts (rowid, body) VALUES (new.seq, new.body);
END;
`,
	// 2: the buddy list and blocked peers; an index for offline delivery.
	`
CREATE TABLE contacts (
	peer_id    TEXT    NOT NULL PRIMARY KEY,
	nickname   TEXT    NOT NULL DEFAULT '',
	name       TEXT    NOT NULL DEFAULT '',
	group_name TEXT    NOT NULL DEFAULT '',
	contact    INTEGER NOT NULL CHECK (contact IN (0, 1)),
	blocked    INTEGER NOT NULL CHECK (blocked IN (0, 1)),
	added_at   INTEGER NOT NULL DEFAULT 0,
	CHECK (contact = 1 OR blocked = 1)
) WITHOUT ROWID;
CREATE INDEX messages_queued ON messages (to_peer, sent_at, seq) WHERE state = 'queued';
`,
	// 3: rooms (joined, or invited to and pending) and what room messages need for sync:
	// the author's Lamport counter and signature.
	`
CREATE TABLE rooms (
	id         TEXT    NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	status     TEXT    NOT NULL CHECK (status IN ('joined', 'pending', 'left')),
	inviter    TEXT    NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL,
	synced_at  INTEGER NOT NULL DEFAULT 0,
	state      BLOB    NOT NULL
) WITHOUT ROWID;
ALTER TABLE messages ADD COLUMN lamport INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN sig BLOB;
CREATE INDEX messages_room ON messages (room, lamport, sent_at, from_peer, id) WHERE room != '';
`,
	// 4: key verification: the user compared the contact's safety number (when, if so).
	// The contact row itself is the pin: its peer ID (the key) is bound to the name
	// and nickname recorded with it.
	`
ALTER TABLE contacts ADD COLUMN verified INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1));
ALTER TABLE contacts ADD COLUMN verified_at INTEGER NOT NULL DEFAULT 0;
`,
	// 5: a message ID is unique per sender and conversation (a room, or a DM's
	// recipient), not on its own: a sender could otherwise take another's ID first, in
	// another conversation, and have the real message dropped as a duplicate. Rows made
	// under the old index are unique under this one too.
	`
DROP INDEX messages_id;
CREATE UNIQUE INDEX messages_key ON messages (id, from_peer, room, to_peer);
`,
	// 6: mailboxes. A queued message deposited at the recipient's mailboxes is held
	// (state 'held', held_at the mailboxes' peer IDs, held_until when the last of them
	// lets it go) and still waits in the queue; the
	// last mailbox details each peer published (its key binding and the mailboxes it
	// fetches from), so a sender can seal to it while it is away.
	`
ALTER TABLE messages ADD COLUMN held_at TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN held_until INTEGER NOT NULL DEFAULT 0;
DROP INDEX messages_queued;
CREATE INDEX messages_waiting ON messages (to_peer, sent_at, seq) WHERE state IN ('queued', 'held');
CREATE TABLE peer_mail (
	peer_id    TEXT    NOT NULL PRIMARY KEY,
	details    BLOB    NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
`,
}

// currentVersion is the version Open migrates to: every migration.
var currentVersion = len(migrations)

// migrate brings the schema up to version target (currentVersion except
// in tests, which build older archives to test the migrations on). The
// transaction is immediate (see dsn), so two processes opening the same new
// archive at once cannot both create the tables.
func migrate(ctx context.Context, db *sql.DB, target int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	version, err := schemaVersion(ctx, tx)
	if err != nil {
		return err
	}
	if version > target {
		return fmt.Errorf("schema version %d is newer than this parley understands (%d): upgrade parley", version, target)
	}
	for v := version; v < target; v++ {
		if err := applyMigration(ctx, tx, v); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func schemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var v int
	err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func applyMigration(ctx context.Context, tx *sql.Tx, from int) error {
	if _, err := tx.ExecContext(ctx, migrations[from]); err != nil {
		return fmt.Errorf("migrate schema from version %d to %d: %w", from, from+1, err)
	}
	// PRAGMA takes no bound parameters; from+1 is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", from+1)); err != nil {
		return fmt.Errorf("set schema version %d: %w", from+1, err)
	}
	return nil
}
