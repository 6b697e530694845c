package archive

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// base is a fixed instant in a non-UTC zone, so tests see the UTC conversion.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

func openTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "archive.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newMessage(id, from, to, text string, sentAt time.Time) Message {
	return Message{
		ID: id, From: from, To: to, FromName: "name of " + from, Text: text,
		SentAt: sentAt, ReceivedAt: sentAt.Add(time.Second),
		Direction: Incoming, State: StateReceived,
	}
}

func mustPut(t testing.TB, s *Store, msgs ...Message) {
	t.Helper()
	for _, m := range msgs {
		inserted, err := s.Put(context.Background(), m)
		if err != nil || !inserted {
			t.Fatalf("Put(%q) = %v, %v; want true, nil", m.ID, inserted, err)
		}
	}
}

func mustList(t testing.TB, s *Store, q Query) []Message {
	t.Helper()
	got, err := s.List(context.Background(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	return got
}

func ids(msgs []Message) string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return strings.Join(out, ",")
}

// sameMessage compares messages with time.Time.Equal for the times.
func sameMessage(got, want Message) bool {
	if !got.SentAt.Equal(want.SentAt) || !got.ReceivedAt.Equal(want.ReceivedAt) {
		return false
	}
	if !bytes.Equal(got.Sig, want.Sig) {
		return false
	}
	got.SentAt, got.ReceivedAt, want.SentAt, want.ReceivedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	got.Sig, want.Sig = nil, nil
	return reflect.DeepEqual(got, want)
}

func rowCount(t testing.TB, s *Store) int {
	t.Helper()
	var n int
	if err := s.reader.QueryRow("SELECT count(*) FROM messages").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenCreatesPrivateFileInWALMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "archive.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustPut(t, s, newMessage("m1", "a", "b", "hi", base))

	for name, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600, path + "-wal": 0o600} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("mode of %s = %v, want %v", name, fi.Mode(), want)
		}
	}
	assertPragmasOnEveryConn(t, s.writer, 1, "0")
	assertPragmasOnEveryConn(t, s.reader, maxReaders, "1")
}

// assertPragmasOnEveryConn holds conns connections of db at once, so the
// pool must open that many, and checks the DSN pragmas took effect on each.
func assertPragmasOnEveryConn(t *testing.T, db *sql.DB, conns int, queryOnly string) {
	ctx := context.Background()
	want := map[string]string{
		"journal_mode": "wal", "synchronous": "1", "busy_timeout": "5000", "foreign_keys": "1",
		"query_only": queryOnly,
	}
	for range conns {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for pragma, value := range want {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != value {
				t.Errorf("PRAGMA %s = %q, want %q", pragma, got, value)
			}
		}
	}
}

func TestOpenPathNeedingEscapes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd ?#%20 name", "a?b#c%41.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, newMessage("m1", "a", "b", "hi", base))
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("archive not created at the given path: %v", err)
	}
}

func TestOpenRejectsNonArchive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not a database\n"), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a text file succeeded")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "move it aside") {
		t.Errorf("error %q does not name the file and say what to do", err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "archive.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open of an archive from a newer parley succeeded")
	}
	if !strings.Contains(err.Error(), "upgrade parley") {
		t.Errorf("error %q does not say to upgrade", err)
	}
}

func TestReopenKeepsMessagesAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "archive.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, newMessage("m1", "a", "b", "kept across reopen", base))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var version int
	if err := s.reader.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) {
		t.Errorf("user_version = %d, %v; want %d", version, err, len(migrations))
	}
	if got := mustList(t, s, Query{Search: "reopen"}); ids(got) != "m1" {
		t.Errorf("after reopen, search found %q, want m1", ids(got))
	}
}

func TestPutGetRoundTrip(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	want := Message{
		ID: "id-1", From: "12D3KooWA", To: "12D3KooWB", Room: "", FromName: "Ada",
		Text: "hello, wörld ✓", SentAt: base, ReceivedAt: base.Add(time.Millisecond),
		Direction: Incoming, State: StateReceived,
	}
	mustPut(t, s, want)
	got, err := s.Get(ctx, want.Key())
	if err != nil {
		t.Fatal(err)
	}
	if !sameMessage(got, want) {
		t.Errorf("Get = %+v\nwant %+v", got, want)
	}
	if got.SentAt.Location() != time.UTC {
		t.Errorf("SentAt location = %v, want UTC", got.SentAt.Location())
	}
	list := mustList(t, s, Query{})
	if len(list) != 1 || !sameMessage(list[0], want) {
		t.Errorf("List = %+v, want [%+v]", list, want)
	}
}

func TestZeroTimesRoundTrip(t *testing.T) {
	s := openTestStore(t)
	want := Message{ID: "out-1", From: "me", To: "you", Text: "x", Direction: Outgoing, State: StateQueued}
	mustPut(t, s, want)
	got, err := s.Get(context.Background(), want.Key())
	if err != nil {
		t.Fatal(err)
	}
	if !got.SentAt.IsZero() || !got.ReceivedAt.IsZero() || !sameMessage(got, want) {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
}

func TestPutDuplicateStoredOnce(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	first := newMessage("dup", "a", "b", "first copy", base)
	mustPut(t, s, first)
	again := newMessage("dup", "a", "b", "second copy", base.Add(time.Hour))
	inserted, err := s.Put(ctx, again)
	if err != nil || inserted {
		t.Fatalf("second Put = %v, %v; want false, nil", inserted, err)
	}
	if n := rowCount(t, s); n != 1 {
		t.Errorf("row count = %d, want 1", n)
	}
	got, err := s.Get(ctx, first.Key())
	if err != nil || !sameMessage(got, first) {
		t.Errorf("Get = %+v, %v; want the first copy", got, err)
	}
	if got := mustList(t, s, Query{Search: "second"}); len(got) != 0 {
		t.Errorf("the rejected copy reached the search index: %q", ids(got))
	}
}

func TestPutRejectsInvalid(t *testing.T) {
	s := openTestStore(t)
	good := newMessage("ok", "a", "b", "x", base)
	tests := map[string]func(*Message){
		"no ID":            func(m *Message) { m.ID = "" },
		"no direction":     func(m *Message) { m.Direction = "" },
		"bad direction":    func(m *Message) { m.Direction = "sideways" },
		"no state":         func(m *Message) { m.State = "" },
		"bad state":        func(m *Message) { m.State = "lost" },
		"sent in year 1":   func(m *Message) { m.SentAt = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC) },
		"received in 3000": func(m *Message) { m.ReceivedAt = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
	for name, breakIt := range tests {
		m := good
		breakIt(&m)
		if _, err := s.Put(context.Background(), m); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Put error = %v, want ErrInvalid", name, err)
		}
	}
	if n := rowCount(t, s); n != 0 {
		t.Errorf("row count = %d after invalid Puts, want 0", n)
	}
}

func TestSetState(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	m := newMessage("m1", "me", "you", "x", base)
	m.Direction, m.State = Outgoing, StateQueued
	mustPut(t, s, m)
	for _, st := range []State{StateSent, StateDelivered, StateRead} {
		if err := s.SetState(ctx, m.Key(), st); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, m.Key())
		if err != nil || got.State != st {
			t.Fatalf("after SetState(%q): Get = %q, %v", st, got.State, err)
		}
	}
	if err := s.SetState(ctx, m.Key(), "bogus"); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetState(bogus) = %v, want ErrInvalid", err)
	}
}

func TestNotFound(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if _, err := s.Get(ctx, Key{ID: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
	if err := s.SetState(ctx, Key{ID: "nope"}, StateRead); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetState = %v, want ErrNotFound", err)
	}
}

func TestListConversation(t *testing.T) {
	s := openTestStore(t)
	mustPut(t, s,
		newMessage("ab1", "alice", "bob", "x", base),
		newMessage("ac1", "alice", "carol", "x", base.Add(1*time.Second)),
		newMessage("ba1", "bob", "alice", "x", base.Add(2*time.Second)),
		newMessage("cb1", "carol", "bob", "x", base.Add(3*time.Second)),
		newMessage("ab2", "alice", "bob", "x", base.Add(4*time.Second)),
	)
	if got := ids(mustList(t, s, Query{Peer: "bob"})); got != "ab1,ba1,cb1,ab2" {
		t.Errorf("Peer bob: %s", got)
	}
	if got := ids(mustList(t, s, Query{Peer: "carol"})); got != "ac1,cb1" {
		t.Errorf("Peer carol: %s", got)
	}
	if got := ids(mustList(t, s, Query{Peer: "dave"})); got != "" {
		t.Errorf("Peer dave: %s", got)
	}
}

func TestListSinceUntil(t *testing.T) {
	s := openTestStore(t)
	for i := range 5 {
		mustPut(t, s, newMessage(fmt.Sprint("m", i), "a", "b", "x", base.Add(time.Duration(i)*time.Minute)))
	}
	tests := []struct {
		q    Query
		want string
	}{
		{Query{Since: base.Add(2 * time.Minute)}, "m2,m3,m4"},
		{Query{Until: base.Add(2 * time.Minute)}, "m0,m1"},
		{Query{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)}, "m1,m2"},
		{Query{Since: base.Add(time.Minute + 1)}, "m2,m3,m4"},
		{Query{Since: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, "m0,m1,m2,m3,m4"},
		{Query{Since: base.Add(time.Hour)}, ""},
	}
	for _, tt := range tests {
		if got := ids(mustList(t, s, tt.q)); got != tt.want {
			t.Errorf("List(since %v, until %v) = %s, want %s", tt.q.Since, tt.q.Until, got, tt.want)
		}
	}
}

func TestListLimitNewestOldestFirst(t *testing.T) {
	s := openTestStore(t)
	// Stored out of order: List orders by SentAt, not by arrival.
	for _, i := range []int{3, 0, 4, 1, 2} {
		mustPut(t, s, newMessage(fmt.Sprint("m", i), "a", "b", "x", base.Add(time.Duration(i)*time.Second)))
	}
	if got := ids(mustList(t, s, Query{Limit: 2})); got != "m3,m4" {
		t.Errorf("Limit 2 = %s, want m3,m4", got)
	}
	if got := ids(mustList(t, s, Query{Limit: 10})); got != "m0,m1,m2,m3,m4" {
		t.Errorf("Limit 10 = %s", got)
	}
	if _, err := s.List(context.Background(), Query{Limit: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Limit -1: err = %v, want ErrInvalid", err)
	}
}

func TestListDefaultLimit(t *testing.T) {
	s := openTestStore(t)
	for i := range DefaultLimit + 5 {
		mustPut(t, s, newMessage(fmt.Sprint("m", i), "a", "b", "x", base.Add(time.Duration(i)*time.Second)))
	}
	got := mustList(t, s, Query{})
	if len(got) != DefaultLimit || got[0].ID != "m5" || got[len(got)-1].ID != fmt.Sprint("m", DefaultLimit+4) {
		t.Errorf("default List returned %d messages from %s to %s", len(got), got[0].ID, got[len(got)-1].ID)
	}
}

func TestListSameSentAtKeepsStoredOrder(t *testing.T) {
	s := openTestStore(t)
	for _, id := range []string{"z", "b", "y", "a", "x"} {
		mustPut(t, s, newMessage(id, "a", "b", "x", base))
	}
	if got := ids(mustList(t, s, Query{})); got != "z,b,y,a,x" {
		t.Errorf("same SentAt: %s, want the order they were stored", got)
	}
	if got := ids(mustList(t, s, Query{Limit: 2})); got != "a,x" {
		t.Errorf("same SentAt, Limit 2: %s, want a,x", got)
	}
}

func searchFixture(t *testing.T) *Store {
	s := openTestStore(t)
	mustPut(t, s,
		newMessage("hello", "alice", "bob", "Hello and welcome to the world", base),
		newMessage("quote", "bob", "alice", `she said "hi" to me`, base.Add(time.Second)),
		newMessage("dash", "alice", "carol", "a-b testing with x-ray", base.Add(2*time.Second)),
		newMessage("near", "carol", "alice", "NEAR the old house (the red one)", base.Add(3*time.Second)),
		newMessage("cafe", "bob", "carol", "Meet at the café?", base.Add(4*time.Second)),
	)
	return s
}

func TestSearchFindsWords(t *testing.T) {
	s := searchFixture(t)
	tests := []struct {
		search, want string
	}{
		{"hello", "hello"},
		{"HELLO world", "hello"},
		{"hello nonexistent", ""},
		{"the", "hello,near,cafe"},
		{"and", "hello"},
		{"AND", "hello"},
		{`"hi"`, "quote"},
		{"NEAR(", "near"},
		{"(the", "hello,near,cafe"},
		{"cafe", "cafe"},
		{"a-b", "dash"},
		{`a"b`, "dash"},
		{"-ray", "dash"},
		{"hell*", "hello"}, // the * is punctuation; every word is a prefix anyway
		{"hel", "hello"},
		{"HEL wor", "hello"},
		{"wel wor", "hello"},
		{"x-r", "dash"},
		{"th ho", "near"},
		{"  hello  ", "hello"},
	}
	for _, tt := range tests {
		if got := ids(mustList(t, s, Query{Search: tt.search})); got != tt.want {
			t.Errorf("Search %q = %q, want %q", tt.search, got, tt.want)
		}
	}
	if got := ids(mustList(t, s, Query{Search: "the", Peer: "bob"})); got != "hello,cafe" {
		t.Errorf("Search the + Peer bob = %q", got)
	}
}

// hostileSearches are FTS5 operators and syntax fragments a user might type.
var hostileSearches = []string{
	`"`, `""`, `"""`, `a"b`, `*`, `**`, `-x`, `-`, `AND`, `OR`, `NOT`, `AND OR NOT`,
	`(`, `)`, `()`, `NEAR(`, `NEAR(a b, 2)`, `a:b`, `body:hello`, `{body}:x`, `^hello`,
	`+`, `'`, `';DROP TABLE messages;--`, "\x00", "a\x00b", "\xff\xfe", "\t\n",
	`.`, `,`, `\`, `$`, `?`, `#`, `%`, `_`, `@`, `!`, `[`, `]`,
}

func TestSearchHostileInput(t *testing.T) {
	s := searchFixture(t)
	for _, search := range hostileSearches {
		_, err := s.List(context.Background(), Query{Search: search})
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Search %q: error %v is not a clean rejection", search, err)
		}
	}
}

func TestSearchWithoutWordsIsRejectedClearly(t *testing.T) {
	s := searchFixture(t)
	for _, search := range []string{`"`, `*`, `(`, `-`, `""`, "\x00", `.,;`} {
		_, err := s.List(context.Background(), Query{Search: search})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no letters or digits") {
			t.Errorf("Search %q: error %v, want ErrInvalid saying there are no words", search, err)
		}
	}
	if got := mustList(t, s, Query{Search: " \t "}); len(got) != 5 {
		t.Errorf("blank Search should not filter; got %d messages", len(got))
	}
}

func FuzzSearch(f *testing.F) {
	for _, search := range hostileSearches {
		f.Add(search)
	}
	f.Add("hello world")
	s := openTestStore(f)
	mustPut(f, s, newMessage("m1", "a", "b", "hello world, and NEAR (x) \"quoted\" a-b", base))
	f.Fuzz(func(t *testing.T, search string) {
		_, err := s.List(context.Background(), Query{Search: search})
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Search %q: %v", search, err)
		}
	})
}

func TestCheck(t *testing.T) {
	s := searchFixture(t)
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check of a fresh archive: %v", err)
	}
	// Tell the index a different text was removed than was stored, so it
	// no longer matches the messages table.
	_, err := s.writer.Exec(`INSERT INTO messages_fts (messages_fts, rowid, body)
		SELECT 'delete', seq, 'unrelated words' FROM messages WHERE id = 'hello'`)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err == nil {
		t.Error("Check did not notice a full-text index out of step with the messages")
	}
}

// TestCheckAfterReaderCachedIndex guards Check's own connection: a pooled
// reader that searched before more writes holds a stale FTS5 structure.
func TestCheckAfterReaderCachedIndex(t *testing.T) {
	s := openTestStore(t)
	s.reader.SetMaxOpenConns(1) // so the search and the check share a connection
	for i := range 300 {
		mustPut(t, s, newMessage(fmt.Sprint("m", i), "a", "b", fmt.Sprint("words number ", i), base))
		if i%50 == 0 {
			mustList(t, s, Query{Search: "words"})
		}
	}
	if err := s.Check(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestConcurrentPutsAndReads(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	const writers, perWriter = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter+writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				m := newMessage(fmt.Sprintf("w%d-%d", w, i), fmt.Sprint("peer", w), "me", "concurrent words", base.Add(time.Duration(i)*time.Millisecond))
				if _, err := s.Put(ctx, m); err != nil {
					errs <- err
				}
			}
		})
		wg.Go(func() { // a reader per writer, racing the writes
			if _, err := s.List(ctx, Query{Peer: fmt.Sprint("peer", w), Search: "words"}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := rowCount(t, s); n != writers*perWriter {
		t.Errorf("row count = %d, want %d", n, writers*perWriter)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}

// The crash test runs TestCrashChild in a child process, which Puts
// messages from several goroutines and prints "put <id>" after each Put
// returns. The parent kills it with SIGKILL mid-burst and checks that every
// printed ID survived.
const (
	crashDBEnv    = "PARLEY_ARCHIVE_CRASH_DB"
	crashRoundEnv = "PARLEY_ARCHIVE_CRASH_ROUND"
	crashWriters  = 4
	// crashMaxPuts stops a child whose parent never kills it.
	crashMaxPuts = 100_000
)

func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashDBEnv)
	if path == "" {
		t.Skip("runs only as the child process of TestCrashSafety")
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	round := os.Getenv(crashRoundEnv)
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			for i := range crashMaxPuts {
				id := fmt.Sprintf("r%s-w%d-%d", round, w, i)
				m := newMessage(id, "peer", "me", "crash test message "+id, time.Now())
				if _, err := s.Put(context.Background(), m); err != nil {
					fmt.Fprintln(os.Stderr, "Put:", err)
					os.Exit(2)
				}
				fmt.Println("put", id) // a single write(2) per line
			}
		})
	}
	wg.Wait()
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "archive.db")
	for round, killAfter := range []int{1, 50, 200, 400, 800} {
		printed := runCrashChild(t, path, round, killAfter)
		assertAllStored(t, path, printed)
	}
}

// runCrashChild starts a child that Puts into path, kills it with SIGKILL
// once it has printed killAfter IDs, and returns every ID it printed.
func runCrashChild(t *testing.T, path string, round, killAfter int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDBEnv+"="+path, crashRoundEnv+"="+strconv.Itoa(round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var printed []string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if id, ok := strings.CutPrefix(lines.Text(), "put "); ok {
			printed = append(printed, id)
		}
		if len(printed) == killAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Lines printed between the count and the kill were read above too.
	cmd.Wait()
	if len(printed) < killAfter {
		t.Fatalf("round %d: child printed %d IDs before it ended, want %d; stderr:\n%s", round, len(printed), killAfter, stderr.String())
	}
	t.Logf("round %d: sent SIGKILL after %d IDs; %d printed in all (%v)", round, killAfter, len(printed), cmd.ProcessState)
	return printed
}

func assertAllStored(t *testing.T, path string, printed []string) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range printed {
		if _, err := s.Get(ctx, Key{ID: id, From: "peer", To: "me"}); err != nil {
			t.Errorf("after kill -9: message %s, whose Put returned, is lost: %v", id, err)
		}
	}
}

func BenchmarkPut(b *testing.B) {
	s := openTestStore(b)
	ctx := context.Background()
	m := newMessage("", "12D3KooWAlice", "12D3KooWBob", "a typical short chat message, about this long", base)
	i := 0
	for b.Loop() {
		m.ID = strconv.Itoa(i)
		if _, err := s.Put(ctx, m); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkPutParallel(b *testing.B) {
	s := openTestStore(b)
	ctx := context.Background()
	var mu sync.Mutex
	next := 0
	b.RunParallel(func(pb *testing.PB) {
		m := newMessage("", "12D3KooWAlice", "12D3KooWBob", "a typical short chat message, about this long", base)
		for pb.Next() {
			mu.Lock()
			m.ID = strconv.Itoa(next)
			next++
			mu.Unlock()
			if _, err := s.Put(ctx, m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestIDsAreScopedBySenderAndConversation: a message ID is unique only for one sender in
// one conversation. The same ID in a DM and in a room, or from two senders in one room,
// is two messages; the same sender repeating an ID in the same conversation is a
// duplicate, stored once.
func TestIDsAreScopedBySenderAndConversation(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	dmFirst := newMessage("x", "mallory", "me", "a DM holding the room message's ID", base)
	roomMsg := newMessage("x", "alice", "", "the real room message", base.Add(time.Minute))
	roomMsg.Room = "room1"
	sameRoomOther := newMessage("x", "mallory", "", "mallory's room message with alice's ID", base.Add(2*time.Minute))
	sameRoomOther.Room = "room1"
	otherRoom := roomMsg
	otherRoom.Room, otherRoom.Text = "room2", "alice in another room"
	for _, m := range []Message{dmFirst, roomMsg, sameRoomOther, otherRoom} {
		inserted, err := s.Put(ctx, m)
		if err != nil || !inserted {
			t.Errorf("Put(%q from %s in %q) = %v, %v; want stored", m.Text, m.From, m.Room, inserted, err)
		}
	}
	for _, dup := range []Message{dmFirst, roomMsg} {
		dup.Text = "a repeat"
		if inserted, err := s.Put(ctx, dup); err != nil || inserted {
			t.Errorf("repeat from %s in %q: Put = %v, %v; want a duplicate", dup.From, dup.Room, inserted, err)
		}
	}
	if n := rowCount(t, s); n != 4 {
		t.Errorf("row count = %d, want 4", n)
	}
	if got := mustList(t, s, Query{Room: "room1"}); len(got) != 2 || got[0].Text != roomMsg.Text || got[1].Text != sameRoomOther.Text {
		t.Errorf("room1 holds %+v; want alice's message, then mallory's", got)
	}
	if got := mustList(t, s, Query{Search: "repeat"}); len(got) != 0 {
		t.Errorf("a repeat reached the search index: %q", ids(got))
	}
}

// TestKeyedLookupsKeepSendersApart: with one ID held by two senders, Get and SetState
// reach only the message of the sender and conversation named.
func TestKeyedLookupsKeepSendersApart(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	mine := newMessage("x", "me", "bob", "my DM to bob", base)
	mine.Direction, mine.State = Outgoing, StateDelivered
	theirs := newMessage("x", "mallory", "", "mallory's room message with my DM's ID", base)
	theirs.Room = "room1"
	mustPut(t, s, mine, theirs)
	if err := s.SetState(ctx, theirs.Key(), StateRead); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, mine.Key()); err != nil || got.State != StateDelivered || got.Text != mine.Text {
		t.Errorf("my DM after a state change of mallory's message: %+v, %v", got, err)
	}
	if _, err := s.Get(ctx, Key{ID: "x", From: "mallory", To: "bob"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of mallory's ID in my conversation with bob = %v, want ErrNotFound", err)
	}
	if mine.Key().String() == theirs.Key().String() {
		t.Errorf("two messages share the key %q", mine.Key())
	}
}
