package transfer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// emptyFiles is a manifest of n empty files whose names are about nameLen bytes long:
// the cheapest offer to make that costs the receiver the most bytes per file.
func emptyFiles(tag string, n, nameLen int) Manifest {
	man := Manifest{ChunkSize: ChunkSize, Entries: make([]Entry, n)}
	hash := FileHash(nil)
	for i := range man.Entries {
		name := fmt.Sprintf("%s-%07d-", tag, i)
		name += strings.Repeat("x", max(0, nameLen-len(name)))
		man.Entries[i] = Entry{Path: "flood/" + name, Kind: KindFile, Mode: 0644, Hash: hash}
	}
	return man
}

// offerAs offers man from h to the peer to, as a hostile client would (no Manager on
// h), and returns the answer.
func offerAs(t testing.TB, h host.Host, to peer.ID, man Manifest, fresh bool) (Answer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	st, err := h.NewStream(ctx, to, ProtocolID)
	if err != nil {
		return Answer{}, err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(waitLimit))
	id := TransferID(h.ID(), to, &man)
	if _, err := st.Write(AppendOffer(nil, Offer{ID: id, Fresh: fresh, Manifest: man})); err != nil {
		return Answer{}, fmt.Errorf("write the offer: %w", err)
	}
	typ, p, err := ReadFrame(bufio.NewReader(st))
	if err != nil {
		return Answer{}, fmt.Errorf("read the answer: %w", err)
	}
	if typ != TypeAnswer {
		return Answer{}, fmt.Errorf("answer of frame type 0x%02x", byte(typ))
	}
	return ParseAnswer(p)
}

// strangers makes n fresh identities connected to the receiver's host.
func strangers(t testing.TB, to host.Host, n int) []host.Host {
	hs := make([]host.Host, n)
	for i := range hs {
		hs[i] = newHost(t, nil)
		connect(t, hs[i], to)
	}
	return hs
}

func countPending(s *side) int {
	n := 0
	for _, info := range s.m.List() {
		if info.Direction == DirIn && info.State == StatePending {
			n++
		}
	}
	return n
}

// TestStrangerOffersShareOneBudget: fresh identities are free, so the offers of all
// strangers together are bounded (DefaultMaxStrangerOffers waiting at once), not the
// offers of each one. Past the budget a stranger is told "too many offers waiting".
func TestStrangerOffersShareOneBudget(t *testing.T) {
	b := newHost(t, nil)
	rb := newSide(t, b, func(c *Config) { c.Policy = AcceptContacts })
	crowd := strangers(t, b, 4)
	var mu sync.Mutex
	var pending, full int
	var wg sync.WaitGroup
	for i, h := range crowd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 12 {
				a, err := offerAs(t, h, b.ID(), emptyFiles(fmt.Sprintf("s%d-%d", i, j), 3, 40), true)
				if err != nil {
					t.Errorf("stranger %d offer %d: %v", i, j, err)
					return
				}
				mu.Lock()
				switch {
				case a.Status == StatusPending:
					pending++
				case a.Status == StatusRejected && strings.Contains(a.Reason, "too many offers waiting"):
					full++
				default:
					t.Errorf("stranger %d offer %d: status %d %q", i, j, a.Status, a.Reason)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if pending != 32 || full != 48-32 {
		t.Errorf("%d offers pending and %d refused as too many, want 32 and 16", pending, full)
	}
	if n := countPending(rb); n != 32 {
		t.Errorf("the receiver lists %d pending offers, want 32", n)
	}
}

// TestStrangerOfferBytesBudget: the budget also counts the bytes of the file lists.
func TestStrangerOfferBytesBudget(t *testing.T) {
	b := newHost(t, nil)
	newSide(t, b, func(c *Config) { c.Policy = AcceptContacts; c.MaxStrangerOfferBytes = 1 << 20 })
	crowd := strangers(t, b, 2)
	var got []Status
	for i := range 4 {
		a, err := offerAs(t, crowd[i%2], b.ID(), emptyFiles(fmt.Sprintf("b%d", i), 1500, 200), true) // ~370 KiB
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.Status)
		if a.Status == StatusRejected && !strings.Contains(a.Reason, "too many offers waiting") {
			t.Errorf("offer %d rejected for %q, want too many offers waiting", i, a.Reason)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint([]Status{StatusPending, StatusPending, StatusRejected, StatusRejected}) {
		t.Errorf("answers %v, want two pending then two rejected (1 MiB of file lists)", got)
	}
}

// TestContactsNotCrowdedOut: with the strangers' budget full, a contact's offer still
// waits for the user (policy ask) or starts at once (policy contacts).
func TestContactsNotCrowdedOut(t *testing.T) {
	for _, policy := range []Policy{AcceptAsk, AcceptContacts} {
		t.Run(policy.String(), func(t *testing.T) {
			b, friend := newHost(t, nil), newHost(t, nil)
			connect(t, friend, b)
			rb := newSide(t, b, func(c *Config) {
				c.Policy = policy
				c.IsContact = func(p peer.ID) bool { return p == friend.ID() }
			})
			crowd := strangers(t, b, 3)
			for i := range 33 {
				offerAs(t, crowd[i%3], b.ID(), emptyFiles(fmt.Sprintf("c%d", i), 2, 30), true)
			}
			if n := countPending(rb); n != 32 {
				t.Fatalf("%d stranger offers pending, want the budget's 32", n)
			}
			src := filepath.Join(t.TempDir(), "from-a-friend.txt")
			writeFile(t, src, "hello", 0644)
			info := newSide(t, friend, nil).send(rb, src)
			want := map[Policy]State{AcceptAsk: StateWaiting, AcceptContacts: StateTransferring}[policy]
			if info.State != want {
				t.Fatalf("the contact's offer: %s (%s), want %s", info.State, info.Error, want)
			}
		})
	}
}

// TestStrangerOfferFrameCap: a stranger's OFFER may be at most DefaultStrangerOfferFrame
// bytes; a bigger one is answered rejected with a reason (the receiver reads past it
// without keeping it), while a contact may send the same offer.
func TestStrangerOfferFrameCap(t *testing.T) {
	b, friend, stranger := newHost(t, nil), newHost(t, nil), newHost(t, nil)
	connect(t, friend, b)
	connect(t, stranger, b)
	rb := newSide(t, b, func(c *Config) {
		c.Policy = AcceptAsk
		c.IsContact = func(p peer.ID) bool { return p == friend.ID() }
	})
	man := emptyFiles("big", 12000, 220) // about 3 MiB
	a, err := offerAs(t, stranger, b.ID(), man, true)
	if err != nil {
		t.Fatalf("a stranger's large offer: %v (want an answer, not a reset)", err)
	}
	if a.Status != StatusRejected || !strings.Contains(a.Reason, "not a contact") {
		t.Errorf("a stranger's 3 MiB offer: status %d %q, want rejected as too large from a stranger", a.Status, a.Reason)
	}
	if n := countPending(rb); n != 0 {
		t.Errorf("%d offers kept", n)
	}
	if a, err := offerAs(t, friend, b.ID(), man, true); err != nil || a.Status != StatusPending {
		t.Errorf("a contact's 3 MiB offer: %+v %v, want pending", a, err)
	}
}

// TestPendingOfferExpires: an offer nobody answers expires: it leaves the list, its
// state and manifest files are deleted, and a sender that offers it again is told.
// Expiry is driven by calling expirePending with a chosen time, never by waiting.
func TestPendingOfferExpires(t *testing.T) {
	b := newHost(t, nil)
	rb := newSide(t, b, func(c *Config) { c.Policy = AcceptContacts; c.PendingExpiry = time.Hour })
	h := strangers(t, b, 1)[0]
	man := emptyFiles("old", 3, 20)
	a, err := offerAs(t, h, b.ID(), man, true)
	if err != nil || a.Status != StatusPending {
		t.Fatalf("offer: %+v %v", a, err)
	}
	if _, err := os.Stat(filepath.Join(rb.cfg.StateDir, a.ID+".manifest")); err != nil {
		t.Fatalf("the pending offer's manifest is not on disk: %v", err)
	}
	rb.m.expirePending(time.Now().Add(rb.cfg.PendingExpiry / 2))
	if _, ok := rb.m.Get(a.ID); !ok {
		t.Fatalf("the offer expired before its time")
	}
	rb.m.expirePending(time.Now().Add(2 * rb.cfg.PendingExpiry))
	if _, ok := rb.m.Get(a.ID); ok {
		t.Fatalf("the offer did not expire after its time")
	}
	for _, ext := range []string{".json", ".manifest"} {
		if _, err := os.Stat(filepath.Join(rb.cfg.StateDir, a.ID+ext)); !os.IsNotExist(err) {
			t.Errorf("the expired offer's %s file is still there: %v", ext, err)
		}
	}
	rb.m.Close() // the sender is still told after a restart
	m := restartSide(t, rb)
	again, err := offerAs(t, h, b.ID(), man, false)
	if err != nil || again.Status != StatusRejected || !strings.Contains(again.Reason, "expired") {
		t.Errorf("the same offer again after a restart: %+v %v, want rejected as expired", again, err)
	}
	if fresh, err := offerAs(t, h, b.ID(), man, true); err != nil || fresh.Status != StatusPending {
		t.Errorf("a fresh send of it after expiry: %+v %v, want pending again", fresh, err)
	}
	// An offer that expires while the node is down is gone when it starts: the node
	// starts with an expiry already past for it.
	m.Close()
	rb.cfg.PendingExpiry = time.Nanosecond
	m = restartSide(t, rb)
	if _, ok := m.Get(a.ID); ok {
		t.Errorf("an offer that expired while the node was down is back")
	}
	if _, err := os.Stat(filepath.Join(rb.cfg.StateDir, a.ID+".manifest")); !os.IsNotExist(err) {
		t.Errorf("its manifest is still there: %v", err)
	}
}

// restartSide starts a new Manager on s's configuration (its old one closed).
func restartSide(t *testing.T, s *side) *Manager {
	t.Helper()
	m, err := New(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestManifestLoadedOnAccept: a pending offer keeps only a summary in memory (its file
// list stays on disk) and the listing shows that summary; Accept loads the manifest and
// the transfer completes.
func TestManifestLoadedOnAccept(t *testing.T) {
	a, b := pair(t, nil, func(c *Config) { c.Policy = AcceptAsk })
	dir := filepath.Join(t.TempDir(), "many")
	for i := range 30 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%02d.txt", i)), fmt.Sprint(i), 0644)
	}
	info := a.send(b, dir)
	tr := b.m.get(info.ID)
	if tr == nil {
		t.Fatal("no pending transfer")
	}
	tr.mu.Lock()
	loaded := tr.man != nil
	tr.mu.Unlock()
	if loaded {
		t.Errorf("a pending offer holds its whole manifest in memory")
	}
	var listed Info
	for _, l := range b.m.List() {
		if l.ID == info.ID {
			listed = l
		}
	}
	if listed.FileCount != 31 || len(listed.Files) > MaxListedFiles || listed.TotalBytes == 0 {
		t.Errorf("listing: %d files counted, %d listed, %d bytes; want 31 counted, at most %d listed",
			listed.FileCount, len(listed.Files), listed.TotalBytes, MaxListedFiles)
	}
	if full, _ := b.m.Get(info.ID); len(full.Files) != 31 {
		t.Errorf("Get lists %d files, want all 31", len(full.Files))
	}
	if err := b.m.Accept(info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.wait(info.ID); err != nil {
		t.Fatal(err)
	}
	if got := listTree(t, filepath.Join(b.cfg.Downloads, "many")); len(got) != 30 {
		t.Errorf("received %d files, want 30", len(got))
	}
}

// TestPendingSurvivesRestartAsSummary: after a restart, pending offers come back from
// their summaries without reading their manifests, and Accept still works.
func TestPendingSurvivesRestartAsSummary(t *testing.T) {
	a, b := pair(t, nil, func(c *Config) { c.Policy = AcceptAsk })
	src := filepath.Join(t.TempDir(), "f.txt")
	writeFile(t, src, "after a restart", 0644)
	info := a.send(b, src)
	b.m.Close()
	m, err := New(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tr := m.get(info.ID)
	if tr == nil || tr.getState() != StatePending {
		t.Fatalf("pending offer not back after a restart: %v", tr)
	}
	tr.mu.Lock()
	loaded := tr.man != nil
	tr.mu.Unlock()
	if loaded {
		t.Errorf("a restart loaded a pending offer's manifest")
	}
	if err := m.Accept(info.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := m.Wait(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, filepath.Join(b.cfg.Downloads, "f.txt"))
}

// TestOldPendingRecordLoads: a pending offer's record written before summaries existed
// (no "summary" field) still loads, from its manifest, and lists its files.
func TestOldPendingRecordLoads(t *testing.T) {
	a, b := pair(t, nil, func(c *Config) { c.Policy = AcceptAsk })
	src := filepath.Join(t.TempDir(), "old.txt")
	writeFile(t, src, "from an older version", 0644)
	info := a.send(b, src)
	b.m.Close()
	path := filepath.Join(b.cfg.StateDir, info.ID+".json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	delete(rec, "summary")
	raw, _ = json.Marshal(rec)
	if err := os.WriteFile(path, raw, 0600); err != nil {
		t.Fatal(err)
	}
	m, err := New(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	got, ok := m.Get(info.ID)
	if !ok || got.State != StatePending || got.FileCount != 1 || len(got.Files) != 1 || got.Files[0].Path != "old.txt" {
		t.Fatalf("old record after a restart: %+v (found %v)", got, ok)
	}
}

// FuzzPeekOffer: refuseEarly looks at a stream's first bytes (peer input) without
// consuming them. Whatever they are, peeking must not panic or consume anything, and
// what it reports must agree with ReadFrame and ParseOffer on the same bytes.
func FuzzPeekOffer(f *testing.F) {
	man := emptyFiles("seed", 2, 10)
	f.Add(AppendOffer(nil, Offer{ID: strings.Repeat("ab", IDLen), Manifest: man}))
	f.Add(AppendAnswer(nil, Answer{ID: strings.Repeat("cd", IDLen)}))
	f.Add([]byte{0x80, 0x80, 0x80, 0x01, 0x01})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x14, 0x01, 0x0a, 0x10})
	unordered := appendFrame(nil, TypeOffer, appendID(appendManifest(nil, &man), strings.Repeat("ab", IDLen)))
	f.Add(unordered)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(b), 16<<10)
		n, hdr, isOffer := peekHeader(r)
		var id string
		var idOK bool
		if isOffer {
			id, idOK = peekOfferID(r, hdr, n)
		}
		typ, p, err := ReadFrame(r)
		wantT, wantP, wantErr := ReadFrame(bufio.NewReader(bytes.NewReader(b)))
		if typ != wantT || !bytes.Equal(p, wantP) || (err == nil) != (wantErr == nil) {
			t.Fatalf("peeking consumed input: %v %v / %v %v", typ, err, wantT, wantErr)
		}
		if err != nil || !isOffer {
			return
		}
		if typ != TypeOffer || uint64(len(p)+1) != n || hdr < 1 {
			t.Fatalf("peek said OFFER of %d bytes; ReadFrame read type %d of %d", n, typ, len(p)+1)
		}
		if idOK && (len(p) < 2+IDLen || hex.EncodeToString(p[2:2+IDLen]) != id) {
			t.Fatalf("peeked id %s does not open the payload", id)
		}
		if o, err := ParseOffer(p); err == nil && idOK && o.ID != id && bytes.Count(p, []byte{0x0a, IDLen}) == 1 {
			t.Fatalf("peeked id %s, ParseOffer read %s", id, o.ID)
		}
	})
}

// TestRejectedOfferKeepsNoManifest: a contact's offer the user turns down while it waits
// keeps its small record (to answer its sender) but not its list of files, also after a
// restart; the same Send again offers it anew and it can then be accepted. (A stranger's
// keeps nothing: TestStrangerOffersEndedWhileWaitingLeaveNothing.)
func TestRejectedOfferKeepsNoManifest(t *testing.T) {
	a, b := pair(t, nil, func(c *Config) { c.Policy = AcceptAsk; c.IsContact = func(peer.ID) bool { return true } })
	src := filepath.Join(t.TempDir(), "maybe.txt")
	writeFile(t, src, "not now", 0644)
	info := a.send(b, src)
	if err := b.m.Cancel(info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b.cfg.StateDir, info.ID+".manifest")); !os.IsNotExist(err) {
		t.Errorf("a turned-down offer's manifest is kept: %v", err)
	}
	a.waitState(info.ID, StateCanceled)
	b.m.Close()
	m := restartSide(t, b)
	if got, ok := m.Get(info.ID); !ok || got.State != StateCanceled || got.FileCount != 1 {
		t.Fatalf("after a restart the turned-down offer is %+v (found %v), want canceled with its summary", got, ok)
	}
	again := a.send(&side{t: t, h: b.h, m: m}, src)
	if again.ID != info.ID || again.State != StateWaiting {
		t.Fatalf("the same Send again: %s %s, want waiting", again.ID, again.State)
	}
	if err := m.Accept(info.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := m.Wait(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, filepath.Join(b.cfg.Downloads, "maybe.txt"))
}
