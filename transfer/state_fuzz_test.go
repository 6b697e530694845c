package transfer

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeManifest: a manifest file in the state directory may be damaged (a disk
// error, an edit): decoding it must not panic, and what it accepts is a valid manifest
// that encodes back to the same bytes' meaning.
func FuzzDecodeManifest(f *testing.F) {
	m := goldenManifest()
	f.Add(encodeManifest(&m))
	f.Add([]byte{0x01})
	f.Add([]byte{0x02, 0x00})
	f.Add(append([]byte{0x01}, strings.Repeat("\xff", 20)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeManifest(b)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
		back, err := decodeManifest(encodeManifest(&got))
		if err != nil || back.TotalSize() != got.TotalSize() || len(back.Entries) != len(got.Entries) {
			t.Fatalf("accepted manifest does not round-trip: %v", err)
		}
	})
}

// FuzzLoadState: a transfer's state record (JSON) and manifest, as found on disk after
// a crash or tampering: load must not panic, and what it accepts is consistent.
func FuzzLoadState(f *testing.F) {
	id := strings.Repeat("ab", IDLen/2)
	m := goldenManifest()
	good, _ := json.Marshal(record{
		Version: recordVersion, ID: id, Direction: DirIn, Peer: "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf",
		State: StateTransferring, StartedAt: time.Unix(1, 0).UTC(), UpdatedAt: time.Unix(2, 0).UTC(),
	})
	f.Add(good, encodeManifest(&m))
	f.Add([]byte(`{"version":1}`), []byte{0x01})
	f.Add([]byte(`{`), []byte{})
	f.Add([]byte(`{"version":1,"id":"`+id+`","direction":"in","peer":"12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf",`+
		`"state":"pending","summary":{"files":2,"total":5,"manifest_bytes":90,"first":[{"path":"a","size":5,"done":0}]}}`), []byte{})
	f.Add([]byte(`{"version":1,"id":"`+id+`","direction":"out","peer":"x","state":"transferring"}`), encodeManifest(&m))
	dir := f.TempDir()
	s := store{dir: dir}
	f.Fuzz(func(t *testing.T, rec, man []byte) {
		if err := os.WriteFile(s.recordPath(id), rec, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.manifestPath(id), man, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := s.load(id)
		if err != nil {
			return
		}
		if l.man == nil { // a pending offer, back from its summary alone
			ended := l.rec.Direction == DirIn && l.rec.State.Terminal()
			if !(l.waiting() || ended) || l.rec.Summary == nil || !l.rec.Summary.valid() {
				t.Fatalf("accepted a state without its manifest: %+v", l.rec)
			}
			return
		}
		if l.rec.ID != id || l.man.Validate() != nil || (l.rec.Direction == DirOut && len(l.rec.Sources) != len(l.man.Entries)) {
			t.Fatalf("accepted an inconsistent state: %+v", l.rec)
		}
	})
}
