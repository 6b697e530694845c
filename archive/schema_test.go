package archive

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openAtVersion creates an archive at path with the schema of an older
// parley: migrations are append-only, so migrating a new file to version
// v builds exactly what parley at version v built.
func openAtVersion(t *testing.T, path string, v int) *Store {
	t.Helper()
	if err := createPrivateFile(path); err != nil {
		t.Fatal(err)
	}
	s, err := openStore(path, v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func userVersion(t *testing.T, s *Store) int {
	t.Helper()
	var v int
	if err := s.reader.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "archive.db")
	old := openAtVersion(t, path, 1)
	if v := userVersion(t, old); v != 1 {
		t.Fatalf("old archive at version %d, want 1", v)
	}
	if _, err := old.Contacts(ctx); err == nil {
		t.Fatal("a version 1 archive has a contacts table; the test is not testing a migration")
	}
	queued := newMessage("q1", "me", "bob", "waiting for bob", base)
	queued.Direction, queued.State = Outgoing, StateQueued
	putV1(t, old, newMessage("m1", "bob", "me", "written before the upgrade", base), queued)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := userVersion(t, s); v != currentVersion {
		t.Errorf("after Open: version %d, want %d", v, currentVersion)
	}
	if got := ids(mustList(t, s, Query{Search: "upgrade"})); got != "m1" {
		t.Errorf("search after migration = %q, want m1", got)
	}
	if got, err := s.Queued(ctx, "bob"); err != nil || ids(got) != "q1" {
		t.Errorf("Queued after migration = %q, %v; want q1", ids(got), err)
	}
	mustPutContact(t, s, Contact{PeerID: "bob", Nickname: "Bob", Contact: true})
	if got := mustContact(t, s, "bob"); got.Nickname != "Bob" {
		t.Errorf("contact after migration = %+v", got)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}

// TestMigrateFromVersion2: contacts of an archive from before key verification keep
// everything and start unverified.
func TestMigrateFromVersion2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "archive.db")
	old := openAtVersion(t, path, 2)
	mustPutContactV2(t, old, "bob", "Bob")
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := mustContact(t, s, "bob")
	if got.Nickname != "Bob" || !got.Contact || got.Verified {
		t.Fatalf("contact after migration = %+v, want Bob, unverified", got)
	}
	if err := s.SetVerified(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	if !mustContact(t, s, "bob").Verified {
		t.Fatal("SetVerified after migration did not stick")
	}
}

// mustPutContactV2 writes a contact row as parley at schema version 2 did.
func mustPutContactV2(t *testing.T, s *Store, id, nick string) {
	t.Helper()
	_, err := s.writer.Exec("INSERT INTO contacts (peer_id, nickname, contact, blocked, added_at) VALUES (?, ?, 1, 0, 1)", id, nick)
	if err != nil {
		t.Fatal(err)
	}
}

// TestFailedMigrationChangesNothing: a migration that fails part-way
// leaves the archive at its old version with its data, and Open says so.
func TestFailedMigrationChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "archive.db")
	old := openAtVersion(t, path, 1)
	putV1(t, old, newMessage("m1", "bob", "me", "kept", base))
	// Version 2 creates the index after the table: make the index fail.
	if _, err := old.writer.Exec("CREATE INDEX messages_queued ON messages (id)"); err != nil {
		t.Fatal(err)
	}
	old.Close()

	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded though the migration could not run")
	}
	if !strings.Contains(err.Error(), "from version 1 to 2") {
		t.Errorf("error %q does not name the migration", err)
	}
	old = openAtVersion(t, path, 1)
	defer old.Close()
	if v := userVersion(t, old); v != 1 {
		t.Errorf("version after the failed migration = %d, want 1", v)
	}
	var tables int
	if err := old.reader.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'contacts'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("contacts tables after the failed migration = %d, %v; want 0", tables, err)
	}
	var kept string
	if err := old.reader.QueryRow("SELECT group_concat(id) FROM messages").Scan(&kept); err != nil || kept != "m1" {
		t.Errorf("messages after the failed migration = %q, %v; want m1", kept, err)
	}
}

// TestQueriesUseIndexes guards the plans of the queries that run often or
// over the whole archive against a full scan.
func TestQueriesUseIndexes(t *testing.T) {
	s := openTestStore(t)
	tests := []struct {
		query string
		args  []any
		index string
	}{
		{queuedQuery, []any{"bob"}, "messages_waiting"},
		{queuedRecipientsQuery, nil, "messages_waiting"},
		{purgeSelect, []any{1, 1}, "messages_sent"},
	}
	for _, tt := range tests {
		plan := queryPlan(t, s, tt.query, tt.args...)
		if !strings.Contains(plan, tt.index) {
			t.Errorf("plan of %s:\n%s\ndoes not use %s", tt.query, plan, tt.index)
		}
	}
}

func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.reader.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// putV1 stores messages in an archive at schema version 1 or 2, whose messages table
// lacks the columns later versions added.
func putV1(t *testing.T, s *Store, msgs ...Message) {
	t.Helper()
	for _, m := range msgs {
		_, err := s.writer.Exec(`INSERT INTO messages (id, from_peer, to_peer, room, from_name, body, sent_at, received_at, direction, state)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.ID, m.From, m.To, m.Room, m.FromName, m.Text,
			toNanos(m.SentAt), toNanos(m.ReceivedAt), string(m.Direction), string(m.State))
		if err != nil {
			t.Fatalf("store %q at an old version: %v", m.ID, err)
		}
	}
}

// TestMigrateFromVersion4: an archive made when message IDs were unique on their own
// keeps its messages, still refuses a sender's repeat, and then takes the same ID from
// another sender or in another conversation.
func TestMigrateFromVersion4(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "archive.db")
	old := openAtVersion(t, path, 4)
	dm := newMessage("x", "mallory", "me", "a DM sent first", base)
	putV1(t, old, dm) // what parley at version 4 stored, as it stored it
	room := newMessage("x", "alice", "", "the room message", base.Add(time.Minute))
	room.Room = "room1"
	if _, err := old.writer.Exec("INSERT INTO messages (id, from_peer, to_peer, room, body, sent_at, direction, state) VALUES ('x', 'alice', '', 'room1', 'y', 1, 'in', 'received')"); err == nil {
		t.Fatal("version 4 took the same ID twice; the test is not testing a migration")
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := userVersion(t, s); v != currentVersion {
		t.Errorf("after Open: version %d, want %d", v, currentVersion)
	}
	if inserted, err := s.Put(ctx, dm); err != nil || inserted {
		t.Errorf("the DM again after migration: %v, %v; want a duplicate", inserted, err)
	}
	if inserted, err := s.Put(ctx, room); err != nil || !inserted {
		t.Errorf("the room message after migration: %v, %v; want stored", inserted, err)
	}
	if got := ids(mustList(t, s, Query{})); got != "x,x" {
		t.Errorf("after migration the archive holds %q, want x,x", got)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}
