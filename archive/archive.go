package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/parley-im/parley/internal/osfile"
)

// ErrNotFound is returned when there is no message with the asked-for ID,
// or no contact with the asked-for peer ID.
var ErrNotFound = errors.New("archive: not found")

// ErrInvalid is wrapped by errors about the caller's input (a message
// without an ID, an unknown state, a search with no words): retrying the
// same call cannot succeed.
var ErrInvalid = errors.New("archive: invalid input")

// maxReaders bounds the connections that serve reads at the same time.
const maxReaders = 8

// Store is an open archive. It is safe for concurrent use.
type Store struct {
	path string
	// writer has a single connection. SQLite lets one connection write at
	// a time anyway; with one connection writers queue in database/sql,
	// where a cancelled context stops the wait (rather than polling in
	// SQLite's busy handler), and that connection's page cache stays warm.
	writer *sql.DB
	// reader is a pool of read-only connections for concurrent queries.
	reader *sql.DB
	// now is the clock for times the archive chooses itself (a contact's
	// AddedAt); tests replace it.
	now       func() time.Time
	closeOnce sync.Once
	closeErr  error
}

// Open opens the archive at path, creating the file (mode 0600) and its
// parent directory (mode 0700) if needed, and migrates its schema.
func Open(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open archive %s: %w", path, err)
	}
	if err := createPrivateFile(abs); err != nil {
		return nil, fmt.Errorf("open archive %s: %w", abs, err)
	}
	s, err := openStore(abs, currentVersion)
	if err != nil {
		return nil, fmt.Errorf("open archive %s: %w%s", abs, err, hint(err))
	}
	return s, nil
}

// openStore opens the writer first: it sets WAL mode and migrates to
// schema version (currentVersion but in tests), so the readers find the
// file ready.
func openStore(path string, version int) (*Store, error) {
	writer, err := openDB(dsn(path), 1)
	if err != nil {
		return nil, err
	}
	if err := prepareDB(context.Background(), writer, version); err != nil {
		writer.Close()
		return nil, err
	}
	reader, err := openDB(dsn(path)+"&_pragma=query_only(1)", maxReaders)
	if err != nil {
		writer.Close()
		return nil, err
	}
	return &Store{path: path, writer: writer, reader: reader, now: time.Now}, nil
}

// createPrivateFile makes sure the archive's directory and file exist, so
// that SQLite (which would use 0644) does not choose the file's mode.
// SQLite gives the -wal and -shm files the mode of the database file.
func createPrivateFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := osfile.OpenPrivate(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return err
	}
	return f.Close()
}

// openDB opens a pool of at most conns connections and checks that one
// can be made.
func openDB(dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// dsn names the file as an SQLite URI and sets the pragmas on every
// connection the pool opens:
//
//   - journal_mode(WAL): readers do not block the writer, and a commit is
//     one append to the -wal file.
//   - synchronous(NORMAL): in WAL mode a commit is written to the -wal file
//     with write(2) before COMMIT returns, but fsync runs only at
//     checkpoints. Once write(2) returns the data is in the kernel's page
//     cache, which outlives the process, so a committed message survives
//     kill -9 or a crash of parley; only an OS crash or power loss can
//     roll back the last few commits, and even that never corrupts the
//     file. FULL would fsync every commit for power-loss durability; it
//     more than doubled the time of a Put in BenchmarkPut (and an fsync
//     costs far more on many real disks).
//   - busy_timeout(5000): wait up to 5 s for a lock that another connection
//     (Check's own) or another process holds, instead of failing at once
//     with SQLITE_BUSY.
//   - foreign_keys(1): enforce foreign keys, which later schemas may use.
//   - _txlock=immediate: transactions take the write lock at BEGIN, so a
//     read-then-write transaction cannot fail half-way on a lock upgrade.
func dsn(path string) string {
	return fileURI(path) +
		"?_pragma=busy_timeout(5000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(1)" +
		"&_txlock=immediate"
}

// fileURI names path as an SQLite file: URI.
func fileURI(path string) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:/C:/...
	}
	// Escape the path so '?', '#' and '%' in it are not read as URI syntax.
	u := url.URL{Path: p}
	return "file:" + u.EscapedPath()
}

// prepareDB checks that the file really is in WAL mode (it stays in its old
// mode, e.g. on some network file systems, if WAL cannot be used) and
// migrates the schema to version.
func prepareDB(ctx context.Context, db *sql.DB, version int) error {
	mode, err := journalMode(ctx, db)
	if err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, not wal: keep the archive on a local file system", mode)
	}
	return migrate(ctx, db, version)
}

func journalMode(ctx context.Context, db *sql.DB) (string, error) {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return "", fmt.Errorf("read journal mode: %w", err)
	}
	return strings.ToLower(mode), nil
}

// Close closes the archive. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		err := s.reader.Close()
		if s.writer != s.reader { // OpenReadOnly's store has one pool
			err = errors.Join(err, s.writer.Close())
		}
		if err != nil {
			s.closeErr = fmt.Errorf("close archive %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

const insertMessage = `
INSERT INTO messages (id, from_peer, to_peer, room, from_name, body, sent_at, received_at, direction, state, lamport, sig)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id, from_peer, room, to_peer) DO NOTHING`

// keyWhere selects the message with a Key: the ID, sender and conversation.
const keyWhere = " WHERE id = ? AND from_peer = ? AND room = ? AND to_peer = ?"

func keyArgs(k Key) []any { return []any{k.ID, k.From, k.Room, k.To} }

// Put stores m. If a message with the same Key (ID, sender and conversation) already
// exists it is not stored again (the stored copy is kept unchanged) and inserted is
// false. The same ID from another sender, or in another conversation, is another
// message and is stored beside it.
// Put returns after the commit: once it returns nil, m survives a crash of
// the process.
func (s *Store) Put(ctx context.Context, m Message) (inserted bool, err error) {
	if err := m.validate(); err != nil {
		return false, err
	}
	res, err := s.writer.ExecContext(ctx, insertMessage,
		m.ID, m.From, m.To, m.Room, m.FromName, m.Text,
		toNanos(m.SentAt), toNanos(m.ReceivedAt), string(m.Direction), string(m.State), int64(min(m.Lamport, math.MaxInt64)), m.Sig)
	if err != nil {
		return false, s.wrap(err, "store message %q", m.ID)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.wrap(err, "store message %q", m.ID)
	}
	return n == 1, nil
}

// SetState changes the state of the message with key k; ErrNotFound if there is none.
func (s *Store) SetState(ctx context.Context, k Key, st State) error {
	id := k.ID
	if !st.valid() {
		return fmt.Errorf("%w: set state of message %q: unknown state %q", ErrInvalid, id, st)
	}
	res, err := s.writer.ExecContext(ctx, "UPDATE messages SET state = ?"+keyWhere, append([]any{string(st)}, keyArgs(k)...)...)
	if err != nil {
		return s.wrap(err, "set state of message %q", id)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrap(err, "set state of message %q", id)
	}
	if n == 0 {
		return fmt.Errorf("set state of message %q: %w", id, ErrNotFound)
	}
	return nil
}

// Get returns the message with key k, or ErrNotFound.
func (s *Store) Get(ctx context.Context, k Key) (Message, error) {
	id := k.ID
	row := s.reader.QueryRowContext(ctx, "SELECT "+messageColumns+" FROM messages"+keyWhere, keyArgs(k)...)
	m, err := scanMessage(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("get message %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Message{}, s.wrap(err, "get message %q", id)
	}
	return m, nil
}

// messageColumns are the columns scanMessage reads, in its order.
const messageColumns = "id, from_peer, to_peer, room, from_name, body, sent_at, received_at, direction, state, lamport, sig, held_at"

type scanner interface {
	Scan(dest ...any) error
}

func scanMessage(row scanner) (Message, error) {
	var m Message
	var sent, received, lamport int64
	var held string
	err := row.Scan(&m.ID, &m.From, &m.To, &m.Room, &m.FromName, &m.Text,
		&sent, &received, &m.Direction, &m.State, &lamport, &m.Sig, &held)
	if err != nil {
		return Message{}, err
	}
	if held != "" {
		m.HeldAt = strings.Split(held, ",")
	}
	m.SentAt, m.ReceivedAt, m.Lamport = fromNanos(sent), fromNanos(received), uint64(lamport)
	return m, nil
}

// Check verifies the database file and the full-text index, and returns an
// error describing the damage if either is not intact.
//
// It uses a connection of its own: FTS5 caches its index structure per
// connection, and PRAGMA integrity_check on a reader whose cache predates
// the latest writes reports corruption that is not there (seen with SQLite
// 3.54.1; queries refresh the cache, the integrity check does not).
func (s *Store) Check(ctx context.Context) error {
	db, err := openDB(dsn(s.path), 1)
	if err != nil {
		return s.wrap(err, "check archive")
	}
	defer db.Close()
	if err := s.checkDatabase(ctx, db); err != nil {
		return err
	}
	return s.checkFullText(ctx, db)
}

// maxProblems bounds how many integrity_check lines go into an error.
const maxProblems = 10

func (s *Store) checkDatabase(ctx context.Context, db *sql.DB) error {
	problems, err := integrityProblems(ctx, db)
	if err != nil {
		return s.wrap(err, "check archive")
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	return fmt.Errorf("check archive %s: damaged: %s: restore it from a backup or move it aside", s.path, strings.Join(problems, "; "))
}

// integrityProblems returns the lines of PRAGMA integrity_check: just "ok"
// when the file is intact.
func integrityProblems(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf("PRAGMA integrity_check(%d)", maxProblems))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		lines = append(lines, line)
	}
	return lines, rows.Err()
}

// checkFullText compares the FTS index with the messages table (rank 1 asks
// FTS5 to check an external-content index against its content).
func (s *Store) checkFullText(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
	if err != nil {
		return fmt.Errorf("check archive %s: full-text index: %w: restore it from a backup or move it aside", s.path, err)
	}
	return nil
}

// wrap says what failed, in which archive, and adds what to do about the
// SQLite errors that have a likely cause.
func (s *Store) wrap(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	return fmt.Errorf("%s in archive %s: %w%s", what, s.path, err, hint(err))
}

// hint suggests a fix for SQLite errors with a likely cause; "" otherwise.
func hint(err error) string {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Code() & 0xff { // the primary code, without the extended bits
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return ": is another program holding it?"
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY:
		return ": check that the file and its directory are writable by you"
	case sqlite3.SQLITE_FULL:
		return ": the disk is full; free some space"
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return ": the file is damaged or not an archive; restore it from a backup or move it aside"
	case sqlite3.SQLITE_IOERR:
		return ": the disk reported an I/O error"
	}
	return ""
}
