package archive

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// OpenReadOnly opens an existing archive for reading only (SQLite mode=ro,
// query_only): it creates, migrates and writes nothing, so it is safe on the
// archive of a node that is stopped, or running (WAL readers do not block its
// writer). Writes through the Store fail. An archive whose schema is older or
// newer than this parley's is refused, since reading it could mislead: the
// node migrates it when it starts.
func OpenReadOnly(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open archive %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("open archive %s: %w", abs, err)
	}
	db, err := openDB(readOnlyDSN(abs), maxReaders)
	if err != nil {
		return nil, fmt.Errorf("open archive %s read-only: %w%s", abs, err, hint(err))
	}
	var version int
	if err := db.QueryRowContext(context.Background(), "PRAGMA user_version").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("open archive %s read-only: read schema version: %w%s", abs, err, hint(err))
	}
	if version != currentVersion {
		db.Close()
		return nil, fmt.Errorf("open archive %s read-only: its schema is version %d, this parley reads %d: run `parley up` once to migrate it (or upgrade parley)", abs, version, currentVersion)
	}
	return &Store{path: abs, writer: db, reader: db, now: time.Now}, nil
}

// readOnlyDSN is dsn without the pragmas that write (journal_mode sets the
// mode in the file) and with mode=ro.
func readOnlyDSN(path string) string {
	return fileURI(path) + "?mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)"
}

// SenderNames maps each peer that sent us messages to the name on the newest
// one (messages whose name was dropped, e.g. as an impersonation, have none).
// A reader of a stopped node's archive names peers with it and the contacts.
func (s *Store) SenderNames(ctx context.Context) (map[string]string, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT from_peer, from_name, MAX(seq) FROM messages
		WHERE direction = ? AND from_name != '' GROUP BY from_peer`, string(Incoming))
	if err != nil {
		return nil, s.wrap(err, "list sender names")
	}
	defer rows.Close()
	names := make(map[string]string)
	for rows.Next() {
		var id, name string
		var seq int64
		if err := rows.Scan(&id, &name, &seq); err != nil {
			return nil, s.wrap(err, "list sender names")
		}
		names[id] = name
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "list sender names")
	}
	return names, nil
}
