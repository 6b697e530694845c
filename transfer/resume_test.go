package transfer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The child process of the kill -9 tests is this test binary running TestChild, told
// what to be through the environment.
const (
	childRole  = "PARLEY_TRANSFER_CHILD" // "sender" or "receiver"
	childKey   = "PARLEY_TRANSFER_KEY"   // hex of the marshaled libp2p private key
	childState = "PARLEY_TRANSFER_STATE"
	childDL    = "PARLEY_TRANSFER_DOWNLOADS"
	childPeer  = "PARLEY_TRANSFER_PEER" // the parent's full /p2p/ address
	childFile  = "PARLEY_TRANSFER_FILE" // sender: what to send
)

// resumeChunk and resumeDelay slow the transfer enough (a delay per chunk read) that a
// test reliably acts in its middle.
const (
	resumeChunk = 256 << 10
	resumeDelay = 8 * time.Millisecond
	resumeSize  = 48 << 20
)

// TestChild is the child process: a host with the given key that dials the parent and
// runs a Manager, printing "event <id> <state> <done>" for every event, until killed.
func TestChild(t *testing.T) {
	role := os.Getenv(childRole)
	if role == "" {
		t.Skip("runs only as the child process of the kill -9 tests")
	}
	if err := runChild(role); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	time.Sleep(waitLimit) // the parent kills us long before
}

func runChild(role string) error {
	raw, _ := hex.DecodeString(os.Getenv(childKey))
	key, err := lcrypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return err
	}
	h, err := hostWithKey(key)
	if err != nil {
		return err
	}
	parent, err := peer.AddrInfoFromString(os.Getenv(childPeer))
	if err != nil {
		return err
	}
	if err := h.Connect(context.Background(), *parent); err != nil {
		return err
	}
	m, err := New(Config{
		Host: h, StateDir: os.Getenv(childState), Downloads: os.Getenv(childDL), Policy: AcceptAny,
		ChunkSize: resumeChunk, OpenSource: openSlow(resumeDelay),
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnEvent: func(i Info) { fmt.Printf("event %s %s %d\n", i.ID, i.State, i.DoneBytes) },
	})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	if role == "sender" {
		_, err = m.Send(context.Background(), parent.ID, []string{os.Getenv(childFile)})
	}
	return err
}

// child is a running child process and the events it printed.
type child struct {
	cmd    *exec.Cmd
	lines  *bufio.Scanner
	stderr *bytes.Buffer
}

func startChild(t *testing.T, role string, key lcrypto.PrivKey, state, downloads string, parent host.Host, file string) *child {
	t.Helper()
	raw, err := lcrypto.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childRole+"="+role, childKey+"="+hex.EncodeToString(raw),
		childState+"="+state, childDL+"="+downloads, childFile+"="+file,
		childPeer+"="+fmt.Sprintf("%s/p2p/%s", parent.Addrs()[0], parent.ID()))
	c := &child{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c.lines = bufio.NewScanner(out)
	return c
}

// until reads the child's lines until cond accepts one; it fails if the child ends.
func (c *child) until(t *testing.T, what string, cond func(fields []string) bool) []string {
	t.Helper()
	for c.lines.Scan() {
		if f := strings.Fields(c.lines.Text()); cond(f) {
			return f
		}
	}
	t.Fatalf("the child ended before %s; stderr:\n%s", what, c.stderr.String())
	return nil
}

// kill sends SIGKILL and waits for the child to be gone.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	go func() { // drain, so the child never blocks on a full pipe before it dies
		for c.lines.Scan() {
		}
	}()
	c.cmd.Wait()
}

func doneAtLeast(min int64) func([]string) bool {
	return func(f []string) bool {
		if len(f) != 4 || f[0] != "event" {
			return false
		}
		n, _ := strconv.ParseInt(f[3], 10, 64)
		return n >= min
	}
}

// TestResumeAfterReceiverKill: the receiver is killed (SIGKILL) mid-transfer; started
// again on the same folders, it re-verifies its .part file, keeps everything that had
// been verified, and finishes; the sender completes too.
func TestResumeAfterReceiverKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	a := newSide(t, newHost(t, nil), func(c *Config) { c.ChunkSize = resumeChunk; c.OpenSource = openSlow(resumeDelay) })
	key, state, dl := newKey(t), t.TempDir(), t.TempDir()
	kid := startChild(t, "receiver", key, state, dl, a.h, "")
	kid.until(t, "ready", func(f []string) bool { return len(f) == 1 && f[0] == "ready" })
	src := filepath.Join(t.TempDir(), "big.bin")
	writeRandom(t, src, resumeSize)
	bID, _ := peer.IDFromPrivateKey(key)
	info, err := a.m.Send(context.Background(), bID, []string{src})
	if err != nil {
		t.Fatal(err)
	}
	last := kid.until(t, "a third of the data", doneAtLeast(resumeSize/3))
	kid.kill(t)
	before, _ := strconv.ParseInt(last[3], 10, 64)

	b := newSide(t, newHost(t, key), func(c *Config) { c.StateDir, c.Downloads = state, dl })
	connect(t, a.h, b.h)
	got, err := b.wait(info.ID)
	if err != nil {
		t.Fatalf("restarted receiver: %s %v", got.State, err)
	}
	t.Logf("verified before kill -9 ≥ %d bytes; found verified on disk after restart: %d of %d", before, got.ResumedBytes, resumeSize)
	if got.ResumedBytes < before-resumeChunk {
		t.Errorf("resumed from %d bytes, but %d had been verified before the kill", got.ResumedBytes, before)
	}
	sameFile(t, src, filepath.Join(dl, "big.bin"))
	if sent, err := a.wait(info.ID); err != nil {
		t.Errorf("sender: %s %v", sent.State, err)
	}
}

// TestResumeAfterSenderKill: the sender is killed mid-transfer; started again on the
// same state folder it offers again, and the receiver fetches only what it lacks.
func TestResumeAfterSenderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	b := newSide(t, newHost(t, nil), nil)
	key, state := newKey(t), t.TempDir()
	src := filepath.Join(t.TempDir(), "big.bin")
	writeRandom(t, src, resumeSize)
	kid := startChild(t, "sender", key, state, t.TempDir(), b.h, src)
	var id string
	waitFor(t, "a third of the data", func() bool {
		for _, i := range b.m.List() {
			id = i.ID
			return i.DoneBytes >= resumeSize/3
		}
		return false
	})
	kid.kill(t)
	paused := b.waitState(id, StatePaused)
	t.Logf("receiver paused after the kill: %q", paused.Error)
	have := mustGet(t, b, id).DoneBytes

	a := newSide(t, newHost(t, key), func(c *Config) { c.StateDir = state })
	connect(t, a.h, b.h)
	if got, err := a.wait(id); err != nil {
		t.Fatalf("restarted sender: %s %v", got.State, err)
	}
	sameFile(t, src, filepath.Join(b.cfg.Downloads, "big.bin"))
	sent := mustGet(t, a, id).SentBytes
	t.Logf("receiver had %d of %d bytes; the restarted sender served %d", have, resumeSize, sent)
	if sent > resumeSize-have {
		t.Errorf("the restarted sender served %d bytes, but only %d were missing", sent, resumeSize-have)
	}
}

// TestResumeAfterReceiverRestart: the receiver's Manager is closed mid-transfer (host
// kept) and a new one on the same folders finishes from what is on disk.
func TestResumeAfterReceiverRestart(t *testing.T) {
	a, b := pair(t, func(c *Config) { c.ChunkSize = resumeChunk; c.OpenSource = openSlow(resumeDelay) }, nil)
	src := filepath.Join(t.TempDir(), "f.bin")
	writeRandom(t, src, 16<<20)
	info := a.send(b, src)
	waitFor(t, "a quarter of the data", func() bool { return mustGet(t, b, info.ID).DoneBytes >= 4<<20 })
	b.m.Close()
	before := mustGet(t, b, info.ID).DoneBytes

	b2 := newSide(t, b.h, func(c *Config) { c.StateDir, c.Downloads = b.cfg.StateDir, b.cfg.Downloads })
	got, err := b2.wait(info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ResumedBytes < before {
		t.Errorf("resumed from %d bytes, had %d before Close", got.ResumedBytes, before)
	}
	sameFile(t, src, filepath.Join(b.cfg.Downloads, "f.bin"))
}

// TestResumeDiscardsBadData: chunks damaged on disk while the receiver was down are
// found by the re-verification and fetched again.
func TestResumeDiscardsBadData(t *testing.T) {
	a, b := pair(t, func(c *Config) { c.ChunkSize = resumeChunk; c.OpenSource = openSlow(resumeDelay) }, nil)
	src := filepath.Join(t.TempDir(), "f.bin")
	writeRandom(t, src, 8<<20)
	info := a.send(b, src)
	waitFor(t, "half the data", func() bool { return mustGet(t, b, info.ID).DoneBytes >= 4<<20 })
	b.m.Close()
	before := mustGet(t, b, info.ID).DoneBytes
	part := filepath.Join(b.cfg.Downloads, partialDir, info.ID, "f.bin.part")
	f, err := os.OpenFile(part, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("garbage"), 10) // inside chunk 0, which arrived long ago
	f.Close()

	b2 := newSide(t, b.h, func(c *Config) { c.StateDir, c.Downloads = b.cfg.StateDir, b.cfg.Downloads })
	got, err := b2.wait(info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ResumedBytes != before-resumeChunk {
		t.Errorf("resumed %d bytes, want %d minus the damaged chunk", got.ResumedBytes, before)
	}
	sameFile(t, src, filepath.Join(b.cfg.Downloads, "f.bin"))
}

// TestDamagedStateSkipped: a state file that cannot be read is skipped (and left for a
// person to look at); the other transfers load and go on.
func TestDamagedStateSkipped(t *testing.T) {
	a, b := pair(t, nil, nil)
	src := filepath.Join(t.TempDir(), "f.txt")
	writeFile(t, src, "kept", 0644)
	info := a.send(b, src)
	if _, err := a.wait(info.ID); err != nil {
		t.Fatal(err)
	}
	a.m.Close()
	bad := filepath.Join(a.cfg.StateDir, "0123456789abcdef0123456789abcdef.json")
	writeFile(t, bad, "{not json", 0600)
	again := newSide(t, a.h, func(c *Config) { c.StateDir = a.cfg.StateDir })
	if got := mustGet(t, again, info.ID); got.State != StateCompleted || got.DoneBytes != 4 {
		t.Errorf("after restart: %s, %d bytes", got.State, got.DoneBytes)
	}
	if len(again.m.List()) != 1 {
		t.Errorf("List: %d transfers, want 1", len(again.m.List()))
	}
	if _, err := os.Stat(bad); err != nil {
		t.Error("the damaged state file was removed")
	}
}
