package transfer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// recordVersion is the version of the state files this code writes and reads.
const recordVersion = 1

// record is the persisted state of one transfer, StateDir/<id>.json, beside its
// manifest in StateDir/<id>.manifest (written once, before the first record).
// Progress is not persisted: the receiver re-verifies what is on disk when it resumes.
type record struct {
	Version   int               `json:"version"`
	ID        string            `json:"id"`
	Direction Direction         `json:"direction"`
	Peer      string            `json:"peer"`
	State     State             `json:"state"`
	Error     string            `json:"error,omitempty"`
	StartedAt time.Time         `json:"started_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	Sources   []source          `json:"sources,omitempty"`  // out: where each entry is read
	Notified  bool              `json:"notified,omitempty"` // in: the sender acknowledged DONE
	Names     map[string]string `json:"names,omitempty"`    // in: top-level name → name used in Downloads
	// Summary lets a pending offer come back without reading its manifest; records
	// written before it existed lack it, and it is then taken from the manifest.
	Summary *summary `json:"summary,omitempty"`
}

// store reads and writes records in one directory.
type store struct{ dir string }

func (s store) recordPath(id string) string   { return filepath.Join(s.dir, id+".json") }
func (s store) manifestPath(id string) string { return filepath.Join(s.dir, id+".manifest") }
func (s store) cacheDir() string              { return filepath.Join(s.dir, "hashes") }

func (s store) init() error {
	if err := os.MkdirAll(s.cacheDir(), 0700); err != nil {
		return fmt.Errorf("transfer state directory: %w", err)
	}
	return nil
}

func (s store) saveManifest(id string, m *Manifest) error {
	return writeFileAtomic(s.manifestPath(id), encodeManifest(m), true)
}

func (s store) saveRecord(r record) error {
	b, err := json.MarshalIndent(r, "", "\t")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.recordPath(r.ID), b, true)
}

// loaded is one transfer read back from the state directory. An incoming offer that
// waits for Accept, or ended while it waited, comes back without its manifest (man nil,
// rec.Summary set).
type loaded struct {
	rec  record
	peer peer.ID
	man  *Manifest
	old  bool // the record had no summary: write it again with one
}

// waiting reports an incoming offer waiting for Accept.
func (l *loaded) waiting() bool { return l.rec.Direction == DirIn && l.rec.State == StatePending }

// expiredPath is not a *.json name, which loadAll would take for a transfer's record.
func (s store) expiredPath() string { return filepath.Join(s.dir, "expired-offers") }

// tombstone is what is kept of an offer that expired, or of a stranger's offer that was
// canceled while it waited: how it ended and when, to answer its sender.
type tombstone struct {
	At    time.Time `json:"at"`
	State State     `json:"state"` // StateRejected: it expired; StateCanceled: canceled while it waited
}

// UnmarshalJSON also reads the older file, where each id maps to the time it expired.
func (tb *tombstone) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		tb.State = StateRejected
		return json.Unmarshal(b, &tb.At)
	}
	type plain tombstone
	return json.Unmarshal(b, (*plain)(tb))
}

// saveExpired and loadExpired keep the tombstones of offers that ended while they waited.
func (s store) saveExpired(ids map[string]tombstone) error {
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.expiredPath(), b, false)
}

// loadExpired returns what saveExpired wrote; nothing if the file is missing or damaged
// (it only improves what a sender is told), and at most maxTombstones ids.
func (s store) loadExpired() map[string]tombstone {
	ids := map[string]tombstone{}
	b, err := os.ReadFile(s.expiredPath())
	if err != nil || json.Unmarshal(b, &ids) != nil || len(ids) > maxTombstones {
		return map[string]tombstone{}
	}
	for id, tb := range ids {
		if tb.State != StateCanceled {
			tb.State = StateRejected
			ids[id] = tb
		}
	}
	return ids
}

// remove deletes a transfer's record and manifest.
func (s store) remove(id string) {
	os.Remove(s.recordPath(id))
	os.Remove(s.manifestPath(id))
}

func (s store) loadManifest(id string) (Manifest, error) {
	mb, err := os.ReadFile(s.manifestPath(id))
	if err != nil {
		return Manifest{}, err
	}
	man, err := decodeManifest(mb)
	if err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	return man, nil
}

// loadAll reads every transfer in the directory; unreadable ones are reported to bad
// and skipped, never deleted (a person may want to look at them).
func (s store) loadAll(bad func(name string, err error)) []loaded {
	names, _ := filepath.Glob(filepath.Join(s.dir, "*.json"))
	var out []loaded
	for _, name := range names {
		l, err := s.load(strings.TrimSuffix(filepath.Base(name), ".json"))
		if err != nil {
			bad(name, err)
			continue
		}
		out = append(out, l)
	}
	return out
}

func (s store) load(id string) (loaded, error) {
	var l loaded
	b, err := os.ReadFile(s.recordPath(id))
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(b, &l.rec); err != nil {
		return l, err
	}
	if err := l.rec.check(id); err != nil {
		return l, err
	}
	if l.peer, err = peer.Decode(l.rec.Peer); err != nil {
		return l, fmt.Errorf("peer: %w", err)
	}
	if l.rec.Summary != nil && !l.rec.Summary.valid() {
		l.rec.Summary = nil // damaged: taken again from the manifest
	}
	if l.waiting() && l.rec.Summary != nil {
		return l, nil
	}
	man, err := s.loadManifest(id)
	if errors.Is(err, fs.ErrNotExist) && l.rec.Direction == DirIn && l.rec.State.Terminal() && l.rec.Summary != nil {
		return l, nil // an offer that ended while it waited keeps no manifest
	}
	if err != nil {
		return l, err
	}
	if l.rec.Direction == DirOut && len(l.rec.Sources) != len(man.Entries) {
		return l, errors.New("sources do not match the manifest")
	}
	if l.rec.Summary == nil {
		sum := summarize(&man, len(encodeManifest(&man)))
		l.rec.Summary, l.old = &sum, true
	}
	if !l.waiting() {
		l.man = &man
	}
	return l, nil
}

func (r *record) check(id string) error {
	switch {
	case r.Version != recordVersion:
		return fmt.Errorf("state file version %d, want %d", r.Version, recordVersion)
	case r.ID != id:
		return fmt.Errorf("state file of %q holds transfer %q", id, r.ID)
	case r.Direction != DirIn && r.Direction != DirOut:
		return fmt.Errorf("unknown direction %q", r.Direction)
	case !r.State.valid():
		return fmt.Errorf("unknown state %q", r.State)
	}
	return nil
}

// writeFileAtomic replaces path with data: a temporary file in the same directory,
// fsynced when durable, renamed over path, and the directory fsynced. A reader (or a
// process started after kill -9) sees the old content or the new, never a mix.
func writeFileAtomic(path string, data []byte, durable bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if durable {
		return syncDir(dir)
	}
	return nil
}
