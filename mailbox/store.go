package mailbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/parley-im/parley/internal/osfile"
)

// DBFile is the store's file in the mailbox's directory.
const DBFile = "mailbox.db"

const schema = `
CREATE TABLE IF NOT EXISTS mail (
	id        INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, so fetching in id order is deposit order
	kind      INTEGER NOT NULL,
	addr      BLOB    NOT NULL,
	depositor BLOB    NOT NULL,
	stranger  INTEGER NOT NULL, -- the depositor was not the owner's contact when it deposited
	size      INTEGER NOT NULL,
	deposited INTEGER NOT NULL, -- Unix ns
	expires   INTEGER NOT NULL, -- Unix ns
	access    BLOB,             -- rooms: SHA-256 of the fetch secret; peers: NULL
	envelope  BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS mail_addr ON mail (kind, addr, id);
CREATE INDEX IF NOT EXISTS mail_expires ON mail (expires);
PRAGMA user_version = 1;
`

// usage is what is held for one key: a recipient, a depositor, or everyone.
type usage struct {
	count int
	bytes int64
	// oldest is the earliest deposit time, kept for recipients only (for STATUS).
}

func (u *usage) add(n int, b int64) { u.count += n; u.bytes += b }

func (u usage) fits(q Quota, size int64) bool {
	return u.count+1 <= q.Count && u.bytes+size <= q.Bytes
}

// record is one envelope to keep.
type record struct {
	to        Address
	depositor peer.ID
	stranger  bool
	deposited time.Time
	expires   time.Time
	access    []byte
	envelope  []byte
}

// limits are the quotas that apply to one deposit.
type limits struct {
	recipient Quota
	depositor Quota
	strangers *Quota // nil when the depositor is a contact
	total     Quota
}

// store keeps envelopes in SQLite and the usage counts in memory (rebuilt from the file
// when it is opened). All writes go through mu, so a quota check and its insert are one
// step.
type store struct {
	db *sql.DB

	mu        sync.Mutex
	total     usage
	strangers usage
	byAddr    map[string]*usage
	byDep     map[peer.ID]*usage
}

// openStore opens (or creates) dir/mailbox.db.
func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mailbox: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, DBFile)
	f, err := osfile.OpenPrivate(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("mailbox: open %s: %w", path, err)
	}
	f.Close()
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("mailbox: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; reads are short
	s := &store{db: db, byAddr: map[string]*usage{}, byDep: map[peer.ID]*usage{}}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("mailbox: %s: %w (move the file aside if it is damaged)", path, err)
	}
	return s, nil
}

// dsn sets the pragmas as archive/ does: WAL, synchronous NORMAL (a commit is written to
// the -wal file before COMMIT returns, so it survives a killed process; only an OS crash
// can roll back the last commits, and the depositor still holds its own copy).
func dsn(path string) string {
	u := url.URL{Path: filepath.ToSlash(path)}
	return "file:" + u.EscapedPath() +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=cache_size(-2048)&_txlock=immediate"
}

func (s *store) init() error {
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT kind, addr, depositor, stranger, count(*), sum(size)
		FROM mail GROUP BY kind, addr, depositor, stranger`)
	if err != nil {
		return fmt.Errorf("count held mail: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a Address
		var dep []byte
		var stranger bool
		var n int
		var b int64
		if err := rows.Scan(&a.Kind, &a.ID, &dep, &stranger, &n, &b); err != nil {
			return fmt.Errorf("count held mail: %w", err)
		}
		s.account(a, peer.ID(dep), stranger, n, b)
	}
	return rows.Err()
}

// account adds n envelopes of b bytes (negative to remove) to every count they touch.
func (s *store) account(a Address, dep peer.ID, stranger bool, n int, b int64) {
	s.total.add(n, b)
	if stranger {
		s.strangers.add(n, b)
	}
	bump(s.byAddr, a.key(), n, b)
	bump(s.byDep, dep, n, b)
}

func bump[K comparable](m map[K]*usage, k K, n int, b int64) {
	u := m[k]
	if u == nil {
		u = new(usage)
		m[k] = u
	}
	u.add(n, b)
	if u.count <= 0 {
		delete(m, k)
	}
}

// check says whether a deposit of size bytes fits every quota in l.
func (s *store) check(r record, l limits) Status {
	size := int64(len(r.envelope))
	if !s.total.fits(l.total, size) {
		return StatusFull
	}
	if l.strangers != nil && !s.strangers.fits(*l.strangers, size) {
		return StatusQuota
	}
	if u := s.byDep[r.depositor]; u != nil && !u.fits(l.depositor, size) || u == nil && !(usage{}).fits(l.depositor, size) {
		return StatusQuota
	}
	if u := s.byAddr[r.to.key()]; u != nil && !u.fits(l.recipient, size) || u == nil && !(usage{}).fits(l.recipient, size) {
		return StatusFull
	}
	return StatusOK
}

// put commits r if it fits l; the id is returned only once the commit is done.
func (s *store) put(ctx context.Context, r record, l limits) (uint64, Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.check(r, l); st != StatusOK {
		return 0, st, nil
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO mail
		(kind, addr, depositor, stranger, size, deposited, expires, access, envelope)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.to.Kind, r.to.ID, []byte(r.depositor), r.stranger, len(r.envelope),
		r.deposited.UnixNano(), r.expires.UnixNano(), r.access, r.envelope)
	if err != nil {
		return 0, StatusInternal, fmt.Errorf("mailbox: store a deposit: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, StatusInternal, fmt.Errorf("mailbox: store a deposit: %w", err)
	}
	s.account(r.to, r.depositor, r.stranger, 1, int64(len(r.envelope)))
	return uint64(id), StatusOK, nil
}

// fetch returns up to limit envelopes for a (with access, nil for peers) after id
// after, not expired at now, at most MaxPageBytes together (at least one), and whether
// more follow.
func (s *store) fetch(ctx context.Context, a Address, access []byte, after uint64, limit int, now time.Time) ([]Item, bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, envelope, deposited, expires FROM mail
		WHERE kind = ? AND addr = ? AND id > ? AND expires > ? AND access IS ?
		ORDER BY id LIMIT ?`, a.Kind, a.ID, int64(min(after, 1<<63-1)), now.UnixNano(), access, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("mailbox: fetch: %w", err)
	}
	defer rows.Close()
	var items []Item
	var bytes int
	for rows.Next() {
		var it Item
		var dep, exp int64
		if err := rows.Scan(&it.ID, &it.Envelope, &dep, &exp); err != nil {
			return nil, false, fmt.Errorf("mailbox: fetch: %w", err)
		}
		if len(items) == limit || len(items) > 0 && bytes+len(it.Envelope) > MaxPageBytes {
			return items, true, nil
		}
		it.Deposited, it.Expires = time.Unix(0, dep), time.Unix(0, exp)
		bytes += len(it.Envelope)
		items = append(items, it)
	}
	return items, false, rows.Err()
}

// del deletes the envelopes with these ids held for a; it returns how many it deleted.
func (s *store) del(ctx context.Context, a Address, ids []uint64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("mailbox: ack: %w", err)
	}
	defer tx.Rollback()
	type gone struct {
		dep      peer.ID
		stranger bool
		size     int64
	}
	var done []gone
	for _, id := range ids {
		var g gone
		var dep []byte
		err := tx.QueryRowContext(ctx, `DELETE FROM mail WHERE kind = ? AND addr = ? AND id = ?
			RETURNING depositor, stranger, size`, a.Kind, a.ID, int64(min(id, 1<<63-1))).Scan(&dep, &g.stranger, &g.size)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("mailbox: ack: %w", err)
		}
		g.dep = peer.ID(dep)
		done = append(done, g)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("mailbox: ack: %w", err)
	}
	for _, g := range done {
		s.account(a, g.dep, g.stranger, -1, -g.size)
	}
	return len(done), nil
}

// purge deletes what expired at or before now, in batches; it returns how many.
func (s *store) purge(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n, err := s.purgeBatch(ctx, now, 1000)
		total += n
		if err != nil || n < 1000 {
			return total, err
		}
	}
}

func (s *store) purgeBatch(ctx context.Context, now time.Time, batch int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows, err := s.db.QueryContext(ctx, `DELETE FROM mail WHERE id IN
		(SELECT id FROM mail WHERE expires <= ? LIMIT ?)
		RETURNING kind, addr, depositor, stranger, size`, now.UnixNano(), batch)
	if err != nil {
		return 0, fmt.Errorf("mailbox: purge expired mail: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var a Address
		var dep []byte
		var stranger bool
		var size int64
		if err := rows.Scan(&a.Kind, &a.ID, &dep, &stranger, &size); err != nil {
			return n, fmt.Errorf("mailbox: purge expired mail: %w", err)
		}
		s.account(a, peer.ID(dep), stranger, -1, -size)
		n++
	}
	return n, rows.Err()
}

// oldest is the deposit time of the oldest envelope held for a (with access).
func (s *store) oldest(ctx context.Context, a Address, access []byte, now time.Time) (int, int64, time.Time, error) {
	var n int
	var b, t sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT count(*), sum(size), min(deposited) FROM mail
		WHERE kind = ? AND addr = ? AND expires > ? AND access IS ?`, a.Kind, a.ID, now.UnixNano(), access).Scan(&n, &b, &t)
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("mailbox: status: %w", err)
	}
	var oldest time.Time
	if t.Valid {
		oldest = time.Unix(0, t.Int64)
	}
	return n, b.Int64, oldest, nil
}

// Holding is what a mailbox holds for one recipient: counts, never contents.
type Holding struct {
	To    Address
	Count int
	Bytes int64
}

func (s *store) holdings() []Holding {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Holding, 0, len(s.byAddr))
	for k, u := range s.byAddr {
		out = append(out, Holding{To: Address{Kind: Kind(k[0]), ID: []byte(k[1:])}, Count: u.count, Bytes: u.bytes})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return strings.Compare(string(out[i].To.ID), string(out[j].To.ID)) < 0
	})
	return out
}

func (s *store) usage() (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total.count, s.total.bytes
}

func (s *store) close() error { return s.db.Close() }
