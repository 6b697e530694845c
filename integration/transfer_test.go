package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
	"github.com/parley-im/parley/transfer"
)

// Bounds on how long a broken run may hang; none of them asserts speed.
const (
	sendTimeout  = 5 * time.Minute // one send-file command
	stateTimeout = 2 * time.Minute // waiting for a transfer to reach a state
)

// chunk is the most a resumed transfer may re-send of what had already arrived.
const chunk = transfer.ChunkSize

// labPair is a sender and a receiver node in two netlab hosts that found each other by
// mDNS. The receiver accepts files from anyone unless its args say otherwise.
type labPair struct {
	sendHost, recvHost *netlab.Host
	sender, receiver   *testnode.Node
	recvID             string
	downloads          string // the receiver's downloads folder
}

// newLabPair starts the pair. downloads is the receiver's --downloads (empty: a new
// temp dir); recvArgs are extra `up` flags for the receiver.
func newLabPair(t *testing.T, downloads string, recvArgs ...string) *labPair {
	t.Helper()
	lab := netlab.New(t)
	p := &labPair{sendHost: lab.AddHost("sender"), recvHost: lab.AddHost("receiver"), downloads: downloads}
	if p.downloads == "" {
		p.downloads = t.TempDir()
	}
	args := append([]string{"--accept-files", "any", "--downloads", p.downloads}, recvArgs...)
	p.receiver = testnode.Start(t, testnode.Options{Name: "Rita", Host: p.recvHost, Args: args})
	p.sender = testnode.Start(t, testnode.Options{Name: "Sam", Host: p.sendHost})
	p.recvID = p.receiver.Status().PeerID
	waitOnline(t, p.sender, "Rita")
	waitOnline(t, p.receiver, "Sam")
	return p
}

// send runs send-file to the receiver until it ends and fails the test unless the
// transfer completed.
func (p *labPair) send(t *testing.T, paths ...string) api.Transfer {
	t.Helper()
	tr, err := p.sender.SendFile(sendTimeout, p.recvID, paths...)
	if err != nil {
		t.Fatalf("send-file %v: %v\nsender log:\n%s\nreceiver log:\n%s", paths, err, tail(p.sender.Log()), tail(p.receiver.Log()))
	}
	if tr.State != api.TransferCompleted {
		t.Fatalf("send-file %v ended %q (%s), want completed", paths, tr.State, tr.Error)
	}
	return tr
}

// incoming polls the receiver until its incoming transfer of the file (or folder) name
// satisfies cond, and returns it. It fails the test after timeout, or at once if the
// transfer ended while cond still does not hold.
func (p *labPair) incoming(t *testing.T, name string, timeout time.Duration, what string, cond func(api.Transfer) bool) api.Transfer {
	t.Helper()
	var last api.Transfer
	testnode.WaitFor(t, timeout, what, func() bool {
		tr, ok := p.receiver.Incoming(name)
		if !ok {
			return false
		}
		last = tr
		if !cond(tr) && tr.Final() {
			t.Fatalf("waiting for %s: the transfer ended %q (%s) first\nreceiver log:\n%s", what, tr.State, tr.Error, tail(p.receiver.Log()))
		}
		return cond(tr)
	})
	return last
}

// tail is the end of a node's log, for failure messages.
func tail(log string) string {
	const n = 6000
	if len(log) <= n {
		return log
	}
	return "…" + log[len(log)-n:]
}

// writeRandom creates path holding size bytes from a ChaCha8 stream seeded with seed.
func writeRandom(t testing.TB, path string, size int64, seed byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{seed, 'p', 'a', 'r', 'l', 'e', 'y'}), size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// fileHash is the SHA-256 of the file at path, computed here and not by the engine.
func fileHash(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// assertSameFile checks that got exists and is byte-identical to want.
func assertSameFile(t *testing.T, want, got string) {
	t.Helper()
	wi, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	gi, err := os.Lstat(got)
	if err != nil {
		t.Fatalf("received file: %v", err)
	}
	if !gi.Mode().IsRegular() || gi.Size() != wi.Size() {
		t.Fatalf("received %s: mode %v, %d bytes; sent %d bytes", got, gi.Mode(), gi.Size(), wi.Size())
	}
	if hw, hg := fileHash(t, want), fileHash(t, got); hw != hg {
		t.Fatalf("received %s differs from %s: SHA-256 %s, sent %s", got, want, hg, hw)
	}
}

// TestSendFile1GiB: 1 GiB of random data between two namespaces arrives byte-identical
// under its own name, with no partial left behind.
func TestSendFile1GiB(t *testing.T) {
	p := newLabPair(t, "")
	src := filepath.Join(t.TempDir(), "random.bin")
	writeRandom(t, src, 1<<30, 1)
	start := time.Now()
	tr := p.send(t, src)
	t.Logf("1 GiB sent in %v (not a speed figure: nodes may be race-enabled; see bench/)", time.Since(start).Round(time.Millisecond))
	if tr.TotalBytes != 1<<30 || tr.DoneBytes != 1<<30 {
		t.Errorf("final transfer: total %d, done %d; want %d", tr.TotalBytes, tr.DoneBytes, 1<<30)
	}
	assertSameFile(t, src, filepath.Join(p.downloads, "random.bin"))
	assertNoPartials(t, p.downloads)
}

// assertNoPartials fails if any partial data is left under dir.
func assertNoPartials(t *testing.T, dir string) {
	t.Helper()
	if parts := partials(t, dir); len(parts) > 0 {
		t.Errorf("partial data left in %s after completion: %v", dir, parts)
	}
}

// partials lists the partial files under dir: *.part files anywhere, and anything in
// the engine's .parley-partial folder.
func partials(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		inPartialDir := strings.HasPrefix(rel, ".parley-partial"+string(filepath.Separator))
		if !d.IsDir() && (strings.HasSuffix(path, ".part") || inPartialDir) {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSendFolderTree: a folder of nested small files, empty files and an empty folder
// arrives as the same tree: same paths, kinds, sizes and contents.
func TestSendFolderTree(t *testing.T) {
	p := newLabPair(t, "")
	root := filepath.Join(t.TempDir(), "project")
	makeTree(t, root)
	p.send(t, root)
	assertSameTree(t, root, filepath.Join(p.downloads, "project"))
	assertNoPartials(t, p.downloads)
}

// makeTree builds a small tree: files at several depths, empty files, an empty folder,
// a folder holding only an empty folder, and names with spaces and non-ASCII letters.
func makeTree(t *testing.T, root string) {
	t.Helper()
	files := map[string]int{
		"README.md":                  1200,
		"empty.txt":                  0,
		"src/main.go":                3000,
		"src/util/strings.go":        777,
		"src/util/empty":             0,
		"docs/deep/er/and/deeper.md": 1,
		"docs/with space/é ü.txt":    4096,
		"data/one-chunk-plus.bin":    transfer.ChunkSize + 1,
	}
	seed := byte(10)
	for rel, size := range files {
		path := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		writeRandom(t, path, int64(size), seed)
		seed++
	}
	for _, dir := range []string{"empty-dir", "nest/only-an-empty-dir/inside"} {
		if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(dir)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// treeEntry is one path of a tree as assertSameTree compares it.
type treeEntry struct {
	Path string // slash-separated, relative to the root
	Dir  bool
	Size int64
	Hash string
}

func walkTree(t *testing.T, root string) []treeEntry {
	t.Helper()
	var out []treeEntry
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		e := treeEntry{Path: filepath.ToSlash(rel), Dir: d.IsDir()}
		if !d.IsDir() {
			info, err := os.Lstat(path)
			if err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return fmt.Errorf("%s is %v, not a regular file", rel, info.Mode())
			}
			e.Size, e.Hash = info.Size(), fileHash(t, path)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

func assertSameTree(t *testing.T, want, got string) {
	t.Helper()
	w, g := walkTree(t, want), walkTree(t, got)
	if !slices.Equal(w, g) {
		t.Fatalf("received tree differs:\nsent:     %+v\nreceived: %+v", w, g)
	}
	t.Logf("%d entries identical", len(w))
}

// resumeFile is the size of the file the kill -9 tests move, and resumeRate the rate
// the sender's link is shaped to so that it takes several seconds (~8 s).
const (
	resumeFile = 200 << 20
	resumeRate = "200mbit"
)

// startShapedSend shapes the sender's link, creates a random file big.bin of size
// bytes and starts sending it. It returns the source path and the running command.
func (p *labPair) startShapedSend(t *testing.T, rate string, size int64) (string, *testnode.SendFileRun) {
	t.Helper()
	p.sendHost.LimitRate(t, rate)
	src := filepath.Join(t.TempDir(), "big.bin")
	writeRandom(t, src, size, 2)
	return src, p.sender.StartSendFile(sendTimeout, p.recvID, src)
}

// waitDone waits until the receiver has at least frac of big.bin, and fails if it
// finished first (the link should be shaped so that it cannot).
func (p *labPair) waitDone(t *testing.T, frac float64) api.Transfer {
	t.Helper()
	what := fmt.Sprintf("the receiver to have %.0f %% of the transfer", 100*frac)
	tr := p.incoming(t, "big.bin", stateTimeout, what, func(tr api.Transfer) bool {
		return tr.TotalBytes > 0 && float64(tr.DoneBytes) >= frac*float64(tr.TotalBytes)
	})
	if tr.DoneBytes == tr.TotalBytes {
		t.Fatalf("the transfer finished before the kill: shape the link slower than %s", resumeRate)
	}
	return tr
}

// TestResumeAfterSenderKill: the sender is killed with SIGKILL twice mid-transfer. After
// the first restart the transfer goes on by itself; after the second, running the same
// send-file again resumes it. The file arrives identical, and each restarted sender
// serves only what the receiver did not have (plus at most one chunk).
//
// The figure checked is the restarted sender's SentBytes (data bytes served by that
// process) against the receiver's DoneBytes seen before the kill. The receiver's
// DoneBytes counts only chunks verified and written to its disk, and the receiver keeps
// running (nothing it has is lost), so whatever the new process sends beyond
// Total - DoneBefore is a re-send of data the receiver already had.
func TestResumeAfterSenderKill(t *testing.T) {
	p := newLabPair(t, "")
	src, first := p.startShapedSend(t, resumeRate, resumeFile)

	before := p.waitDone(t, 0.25)
	p.sender.Kill()
	if _, err := first.Wait(); err == nil {
		t.Fatal("send-file exited 0 although its node was killed mid-transfer")
	}
	p.sender.Restart()
	t.Logf("killed the sender at %d of %d bytes; restarted it", before.DoneBytes, before.TotalBytes)

	// The restarted sender offers again by itself: no send-file runs now.
	mid := p.waitDone(t, 0.55)
	p.assertResentAtMostOneChunk(t, before, p.outgoing(t))
	p.sender.Kill()
	p.sender.Restart()
	t.Logf("killed the sender again at %d bytes; restarted it and ran send-file again", mid.DoneBytes)
	testnode.WaitFor(t, 60*time.Second, "the restarted sender to see the receiver online", func() bool {
		return isOnline(p.sender.Peers(), p.recvID)
	})
	tr, err := p.sender.SendFile(sendTimeout, p.recvID, src)
	if err != nil || tr.State != api.TransferCompleted {
		t.Fatalf("second send-file: %v, state %q (%s)\nsender log:\n%s", err, tr.State, tr.Error, tail(p.sender.Log()))
	}
	if tr.ID != mid.ID {
		t.Errorf("running send-file again made transfer %s, not resumed %s", tr.ID, mid.ID)
	}
	p.assertResentAtMostOneChunk(t, mid, tr)
	p.incoming(t, "big.bin", stateTimeout, "the receiver to show the transfer completed", func(tr api.Transfer) bool {
		return tr.State == api.TransferCompleted
	})
	assertSameFile(t, src, filepath.Join(p.downloads, "big.bin"))
	assertNoPartials(t, p.downloads)
}

// outgoing is the sender's newest outgoing transfer.
func (p *labPair) outgoing(t *testing.T) api.Transfer {
	t.Helper()
	for _, tr := range p.sender.Transfers() {
		if tr.Direction == "out" {
			return tr
		}
	}
	t.Fatal("the sender lists no outgoing transfer")
	return api.Transfer{}
}

// assertResentAtMostOneChunk checks a restarted sender's figures against what the
// receiver had before the kill.
func (p *labPair) assertResentAtMostOneChunk(t *testing.T, before, after api.Transfer) {
	t.Helper()
	// SentBytes counts what this process served so far; at most everything the
	// receiver lacked, plus the one chunk that was in flight.
	if limit := before.TotalBytes - before.DoneBytes + chunk; after.SentBytes > limit {
		t.Errorf("restarted sender served %d bytes; the receiver lacked only %d (limit with one chunk: %d)",
			after.SentBytes, before.TotalBytes-before.DoneBytes, limit)
	}
	t.Logf("restarted sender served %d bytes so far (receiver lacked %d at the kill; state %s)",
		after.SentBytes, before.TotalBytes-before.DoneBytes, after.State)
}

// TestResumeAfterReceiverKill: the receiver is killed with SIGKILL mid-transfer and
// started again. The sender's send-file (still running) ends completed, the file is
// identical, and the receiver re-verified from disk all but at most one chunk of what
// it had before the kill.
func TestResumeAfterReceiverKill(t *testing.T) {
	p := newLabPair(t, "")
	src, run := p.startShapedSend(t, resumeRate, resumeFile)

	before := p.waitDone(t, 0.30)
	p.receiver.Kill()
	p.receiver.Restart()
	t.Logf("killed the receiver at %d of %d bytes; restarted it", before.DoneBytes, before.TotalBytes)

	tr, err := run.Wait()
	if err != nil || tr.State != api.TransferCompleted {
		t.Fatalf("send-file: %v, state %q (%s)\nsender log:\n%s\nreceiver log:\n%s",
			err, tr.State, tr.Error, tail(p.sender.Log()), tail(p.receiver.Log()))
	}
	after := p.incoming(t, "big.bin", stateTimeout, "the receiver to show the transfer completed", func(tr api.Transfer) bool {
		return tr.State == api.TransferCompleted
	})
	if after.ResumedBytes < before.DoneBytes-chunk {
		t.Errorf("after the restart the receiver found %d bytes verified on disk; it had %d before the kill (one chunk is %d)",
			after.ResumedBytes, before.DoneBytes, chunk)
	}
	t.Logf("receiver resumed from %d bytes on disk (had %d before the kill)", after.ResumedBytes, before.DoneBytes)
	assertSameFile(t, src, filepath.Join(p.downloads, "big.bin"))
	assertNoPartials(t, p.downloads)
}

// assertNeverCorrupt fails if the file at final exists and differs from want: a file
// released under its final name must always be the verified one.
func assertNeverCorrupt(t *testing.T, final, wantHash string) {
	t.Helper()
	if _, err := os.Lstat(final); err == nil {
		if got := fileHash(t, final); got != wantHash {
			t.Fatalf("a corrupt file was released as %s (SHA-256 %s, want %s)", final, got, wantHash)
		}
	}
}

// flipBytes inverts n bytes of the file at path starting at off.
func flipBytes(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	orig := make([]byte, n)
	if _, err := f.ReadAt(orig, off); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(orig)
	for i := range flipped {
		flipped[i] ^= 0xff
	}
	if _, err := f.WriteAt(flipped, off); err != nil {
		t.Fatal(err)
	}
	return orig
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// tamperFile and tamperRate: a 64 MiB file over a 100 Mbit/s link takes ~5 s; the
// receiver asks for 8 MiB spans in order, so the last chunk is read by the sender only
// near the end, long after the tampering.
const (
	tamperFile = 64 << 20
	tamperRate = "100mbit"
)

// TestTamperedChunk: the sender's file changes after the offer, in a chunk not yet sent.
//
// First with the modification time put back (bit rot, or a tool that keeps mtimes): the
// sender cannot tell, so the receiver's chunk check must. It fetches the chunk again a
// few times, then the transfer ends failed saying the data does not match the offer, and
// no file is released under the final name. With the bytes restored, the same send-file
// again resumes and completes, identical.
//
// Then an ordinary edit (mtime changes): the sender refuses to serve the changed file
// and the transfer fails saying so; again nothing is released.
func TestTamperedChunk(t *testing.T) {
	p := newLabPair(t, "")
	p.sendHost.LimitRate(t, tamperRate)
	dir := t.TempDir()

	src := filepath.Join(dir, "tampered.bin")
	writeRandom(t, src, tamperFile, 3)
	want := fileHash(t, src)
	final := filepath.Join(p.downloads, "tampered.bin")
	off := int64(tamperFile - chunk + 100) // inside the last chunk
	run := p.sender.StartSendFile(sendTimeout, p.recvID, src)
	p.waitTransferring(t, "tampered.bin", final, want)
	orig := flipBytesKeepMtime(t, src, off, 16)
	tr := p.waitFailed(t, run, "tampered.bin", final, want)
	if !strings.Contains(tr.Error, "does not match") {
		t.Errorf("the transfer failed with %q; want it to say the data does not match the offer", tr.Error)
	}
	if _, err := os.Lstat(final); err == nil {
		t.Fatalf("%s exists after the transfer failed verification", final)
	}
	if len(partials(t, p.downloads)) == 0 {
		t.Errorf("the verified part of the failed transfer was not kept")
	}
	writeAtKeepMtime(t, src, off, orig)
	kept, _ := p.receiver.Incoming("tampered.bin")
	again := p.send(t, src)
	assertSameFile(t, src, final)
	// The verified chunks were kept on disk: the new try fetched only the rest.
	// SentBytes counts everything this sender process served for the transfer.
	resent := again.SentBytes - tr.SentBytes
	if limit := kept.TotalBytes - kept.DoneBytes + chunk; resent > limit {
		t.Errorf("after the restore the sender served %d more bytes; the receiver had kept %d of %d verified",
			resent, kept.DoneBytes, kept.TotalBytes)
	}
	t.Logf("after the restore the sender served %d more bytes; the receiver had kept %d verified", resent, kept.DoneBytes)

	edited := filepath.Join(dir, "edited.bin")
	writeRandom(t, edited, tamperFile, 4)
	want = fileHash(t, edited)
	final = filepath.Join(p.downloads, "edited.bin")
	run = p.sender.StartSendFile(sendTimeout, p.recvID, edited)
	p.waitTransferring(t, "edited.bin", final, want)
	flipBytes(t, edited, off, 16) // an ordinary write: the mtime moves
	tr = p.waitFailed(t, run, "edited.bin", final, want)
	if !strings.Contains(tr.Error, "changed") {
		t.Errorf("the transfer failed with %q; want it to say the sender's file changed", tr.Error)
	}
	if _, err := os.Lstat(final); err == nil {
		t.Fatalf("%s exists after its source changed mid-transfer", final)
	}
}

// waitTransferring waits until the receiver has accepted the offer (the sender has
// hashed the file), checking meanwhile that nothing wrong appears under the final name.
// The receiver pulls in order with a few spans in flight, so the last chunk is read by
// the sender only after some 60 % have arrived; at most 40 % may have when this returns.
func (p *labPair) waitTransferring(t *testing.T, name, final, want string) {
	t.Helper()
	tr := p.incoming(t, name, stateTimeout, "the offer to be accepted", func(tr api.Transfer) bool {
		assertNeverCorrupt(t, final, want)
		return tr.State == api.TransferTransferring
	})
	if tr.DoneBytes > tr.TotalBytes*2/5 {
		t.Fatalf("%d of %d bytes had arrived before the tampering: shape the link slower", tr.DoneBytes, tr.TotalBytes)
	}
}

// waitFailed waits for send-file to exit, which it must do with an error and the
// transfer failed, checking meanwhile that no corrupt file is released.
func (p *labPair) waitFailed(t *testing.T, run *testnode.SendFileRun, name, final, want string) api.Transfer {
	t.Helper()
	deadline := time.After(sendTimeout)
	for done := false; !done; {
		select {
		case <-run.Done():
			done = true
		case <-deadline:
			t.Fatal("send-file did not end")
		case <-time.After(100 * time.Millisecond):
			assertNeverCorrupt(t, final, want)
		}
	}
	tr, err := run.Wait()
	if err == nil || tr.State != api.TransferFailed {
		t.Fatalf("send-file: %v, state %q (%s); want a failed transfer and a non-zero exit\nreceiver log:\n%s",
			err, tr.State, tr.Error, tail(p.receiver.Log()))
	}
	in := p.incoming(t, name, stateTimeout, "the receiver to show the transfer failed", func(tr api.Transfer) bool { return tr.Final() })
	t.Logf("sender: %s (%s); receiver: %s (%s)", tr.State, tr.Error, in.State, in.Error)
	if in.State != api.TransferFailed {
		t.Errorf("the receiver shows the transfer %s, want failed", in.State)
	}
	assertNeverCorrupt(t, final, want)
	return tr
}

// flipBytesKeepMtime is flipBytes that puts the file's modification time back.
func flipBytesKeepMtime(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	orig := flipBytes(t, path, off, n)
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	return orig
}

func writeAtKeepMtime(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	writeAt(t, path, off, b)
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new folder and unmounts it at cleanup.
// Call it before starting the nodes that use it: `ip netns exec` gives each node a copy
// of this mount table as it starts (the root mount is private here, so later mounts
// would not reach it), and the copy shares the one tmpfs.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	netlab.New(t) // skips without root (fails in CI), as the namespace tests do
	dir := t.TempDir()
	opts := fmt.Sprintf("size=%d,mode=0700", size)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "parley-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a junk file into dir until the file system is full, and returns its
// path. It writes at most 1 GiB.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "junk")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for range (1 << 30) / len(buf) {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatal(err)
		}
	}
	t.Fatalf("wrote 1 GiB into %s without filling it", dir)
	return ""
}

// TestFullDisk: the receiver's downloads folder is a 64 MiB tmpfs.
//
// An offer larger than the free space is rejected, and the error says how much is
// needed and how much is free.
//
// Then an offer that fits starts, and the disk fills up mid-transfer (a junk file
// written by the test): the transfer stops with a disk-full error and keeps its partial
// data. Once the junk is deleted, the same send-file again resumes it, and the file
// arrives identical.
func TestFullDisk(t *testing.T) {
	downloads := mountTmpfs(t, 64<<20)
	p := newLabPair(t, downloads)
	dir := t.TempDir()

	big := filepath.Join(dir, "too-big.bin")
	writeRandom(t, big, 100<<20, 5)
	tr, err := p.sender.SendFile(sendTimeout, p.recvID, big)
	if err == nil || tr.State != api.TransferRejected {
		t.Fatalf("100 MiB offer into 64 MiB: %v, state %q (%s); want rejected and a non-zero exit", err, tr.State, tr.Error)
	}
	if !strings.Contains(tr.Error, "free") || !strings.Contains(tr.Error, "MiB") {
		t.Errorf("rejection %q does not say how much space is free", tr.Error)
	}
	t.Logf("rejected: %s", tr.Error)

	p.sendHost.LimitRate(t, "40mbit") // 40 MiB in ~8 s
	src := filepath.Join(dir, "fits.bin")
	writeRandom(t, src, 40<<20, 6)
	first := p.sender.StartSendFile(sendTimeout, p.recvID, src)
	p.incoming(t, "fits.bin", stateTimeout, "data to move", func(tr api.Transfer) bool { return tr.DoneBytes >= 4<<20 })
	junk := fillDisk(t, downloads)
	stopped := p.incoming(t, "fits.bin", stateTimeout, "the transfer to stop on the full disk", func(tr api.Transfer) bool {
		return tr.State == api.TransferPaused || tr.State == api.TransferFailed
	})
	t.Logf("with the disk full the transfer is %s at %d of %d bytes: %s", stopped.State, stopped.DoneBytes, stopped.TotalBytes, stopped.Error)
	if msg := strings.ToLower(stopped.Error); !strings.Contains(msg, "space") && !strings.Contains(msg, "full") {
		t.Errorf("error %q does not say the disk is full", stopped.Error)
	}
	if len(partials(t, downloads)) == 0 || stopped.DoneBytes == 0 {
		t.Errorf("no partial data kept on the full disk (done %d)", stopped.DoneBytes)
	}
	if _, err := os.Lstat(filepath.Join(downloads, "fits.bin")); err == nil {
		t.Fatal("the file was released although it could not be written whole")
	}

	if err := os.Remove(junk); err != nil {
		t.Fatal(err)
	}
	again := p.send(t, src)
	if again.ID != stopped.ID {
		t.Errorf("send-file again made transfer %s, not resumed %s", again.ID, stopped.ID)
	}
	if tr, err := first.Wait(); err != nil || tr.State != api.TransferCompleted {
		t.Errorf("the first send-file ended %q: %v", tr.State, err)
	}
	p.incoming(t, "fits.bin", stateTimeout, "the receiver to show it completed", func(tr api.Transfer) bool { return tr.State == api.TransferCompleted })
	assertSameFile(t, src, filepath.Join(downloads, "fits.bin"))
}
