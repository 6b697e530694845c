package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"lukechampine.com/blake3"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testnode"
	"github.com/parley-im/parley/transfer"
)

// hostileSender is a bare libp2p host in the test process that speaks
// /parley/file/1.0.0 with the transfer package's frame encoders: it offers whatever
// manifest the test builds, and serves the chunks of the files it holds when asked.
type hostileSender struct {
	t    *testing.T
	h    host.Host
	to   peer.ID
	mu   sync.Mutex
	data map[string][][]byte      // transfer ID → entry index → file content
	done map[string]transfer.Done // DONE frames received, by transfer ID
}

func newHostileSender(t *testing.T, receiverAddr string) *hostileSender {
	t.Helper()
	ai, err := peer.AddrInfoFromString(receiverAddr)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(tls.ID, tls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s := &hostileSender{t: t, h: h, to: ai.ID, data: map[string][][]byte{}, done: map[string]transfer.Done{}}
	h.SetStreamHandler(transfer.ProtocolID, s.serve)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Connect(ctx, *ai); err != nil {
		t.Fatalf("connect to the receiver: %v", err)
	}
	return s
}

// fileEntry makes a file entry holding content, with correct chunk and file hashes.
func fileEntry(path string, content []byte) transfer.Entry {
	e := transfer.Entry{Path: path, Kind: transfer.KindFile, Size: int64(len(content)), Mode: 0o644}
	for off := 0; off < len(content); off += transfer.ChunkSize {
		sum := blake3.Sum256(content[off:min(off+transfer.ChunkSize, len(content))])
		e.Chunks = append(e.Chunks, sum[:]...)
	}
	e.Hash = transfer.FileHash(e.Chunks)
	return e
}

// offer sends an OFFER of entries (whose contents it will serve) and returns the
// receiver's ANSWER.
func (s *hostileSender) offer(entries []transfer.Entry, contents [][]byte) (transfer.Answer, error) {
	man := transfer.Manifest{ChunkSize: transfer.ChunkSize, Entries: entries}
	id := transfer.TransferID(s.h.ID(), s.to, &man)
	s.mu.Lock()
	s.data[id] = contents
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s.h.NewStream(ctx, s.to, transfer.ProtocolID)
	if err != nil {
		return transfer.Answer{}, err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := st.Write(transfer.AppendOffer(nil, transfer.Offer{ID: id, Fresh: true, Manifest: man})); err != nil {
		return transfer.Answer{}, err
	}
	typ, p, err := transfer.ReadFrame(bufio.NewReader(st))
	if err != nil {
		return transfer.Answer{}, fmt.Errorf("read the answer: %w", err)
	}
	if typ != transfer.TypeAnswer {
		return transfer.Answer{}, fmt.Errorf("answer frame of type 0x%02x", byte(typ))
	}
	return transfer.ParseAnswer(p)
}

// serve answers the receiver's streams: GETs with the chunks asked for, DONE with an ACK.
func (s *hostileSender) serve(st network.Stream) {
	defer st.Close()
	r := bufio.NewReader(st)
	for {
		st.SetDeadline(time.Now().Add(30 * time.Second))
		typ, p, err := transfer.ReadFrame(r)
		if err != nil {
			return
		}
		switch typ {
		case transfer.TypeGet:
			g, err := transfer.ParseGet(p)
			if err != nil || !s.serveGet(st, g) {
				st.Reset()
				return
			}
		case transfer.TypeDone:
			d, err := transfer.ParseDone(p)
			if err != nil {
				st.Reset()
				return
			}
			s.mu.Lock()
			s.done[d.ID] = d
			s.mu.Unlock()
			st.Write(transfer.AppendAck(nil, transfer.Ack{ID: d.ID}))
			return
		default:
			st.Reset()
			return
		}
	}
}

func (s *hostileSender) serveGet(st network.Stream, g transfer.Get) bool {
	s.mu.Lock()
	files := s.data[g.ID]
	s.mu.Unlock()
	if g.File >= uint64(len(files)) {
		return false
	}
	content := files[g.File]
	for c := g.First; c < g.First+g.Count; c++ {
		off := int(c) * transfer.ChunkSize
		if off >= len(content) {
			return false
		}
		chunk := content[off:min(off+transfer.ChunkSize, len(content))]
		frame := transfer.AppendChunkHeader(nil, transfer.ChunkHeader{File: g.File, Index: c, Length: uint64(len(chunk))})
		if _, err := st.Write(append(frame, chunk...)); err != nil {
			return false
		}
	}
	return true
}

func (s *hostileSender) doneFor(id string) (transfer.Done, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.done[id]
	return d, ok
}

// TestHostileNames: a hostile peer offers names that try to leave the downloads folder
// (../, absolute paths, a/../../b, Windows device names, backslashes, NUL and other
// control characters) and a file under a symlink planted in the downloads folder that
// points outside. Every such offer is refused or fails; nothing is written outside the
// downloads folder, the planted symlink's target stays empty, and the node stays up:
// it then takes an honest file from the same peer and a message from a real node.
//
// The receiver runs in this namespace (--no-mdns, 127.0.0.1 only), the hostile sender
// in the test process on loopback.
func TestHostileNames(t *testing.T) {
	base := t.TempDir()
	downloads := filepath.Join(base, "home", "me", "downloads")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{downloads, outside} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(downloads, "link")); err != nil {
		t.Fatal(err)
	}
	absName := "parley-hostile-" + hex.EncodeToString([]byte(t.Name()))[:8] + "-abs"
	receiver := testnode.Start(t, testnode.Options{Name: "Rita",
		Args: append(loopbackArgs(), "--accept-files", "any", "--downloads", downloads)})
	hs := newHostileSender(t, tcpAddr(t, receiver.Status().Addrs))

	content := []byte("root:x:0:0:hostile:/root:/bin/sh\n")
	hostile := []string{
		"../../etc/passwd", "../outside/escaped", "/" + absName, "/etc/passwd", "a/../../b", "./x", "a//b",
		"CON", "con.txt", "nul", "COM1", "LPT9.log", `x\y`, `..\..\win.ini`,
		"nul\x00byte", "tab\tname", "new\nline", ".parley-partial/x", "",
	}
	for _, name := range hostile {
		a, err := hs.offer([]transfer.Entry{fileEntry(name, content)}, [][]byte{content})
		if err != nil {
			t.Fatalf("offer %q: %v (the receiver must answer, not hang up)", name, err)
		}
		if a.Status != transfer.StatusRejected || !strings.Contains(strings.ToLower(a.Reason), "name") {
			t.Errorf("offer %q: answer status %d (%q), want rejected for its name", name, a.Status, a.Reason)
			continue
		}
		t.Logf("offer %q rejected: %s", name, a.Reason)
	}
	// A folder offer where only one entry is hostile is refused whole.
	a, err := hs.offer([]transfer.Entry{fileEntry("ok/fine.txt", content), fileEntry("ok/../../escape", content)},
		[][]byte{content, content})
	if err != nil || a.Status != transfer.StatusRejected {
		t.Errorf("offer with one hostile entry among good ones: %+v, %v; want rejected", a, err)
	}

	assertSymlinkOfferContained(t, hs, receiver, downloads, outside)
	assertOnlyUnder(t, base, downloads)
	if _, err := os.Lstat("/" + absName); err == nil {
		os.Remove("/" + absName)
		t.Errorf("the absolute name /%s was created", absName)
	}
	assertStillReceives(t, hs, receiver, downloads)
}

// tcpAddr picks the TCP address of a node in this namespace.
func tcpAddr(t *testing.T, addrs []string) string {
	t.Helper()
	for _, a := range addrs {
		if strings.Contains(a, "/tcp/") {
			return a
		}
	}
	t.Fatalf("no TCP address in %v", addrs)
	return ""
}

// assertSymlinkOfferContained offers link/x, where link is a symlink in the downloads
// folder pointing outside it. The receiver may refuse the offer, fail the transfer, or
// complete it under another name ("link (1)/x"): what it may never do is write through
// the symlink or replace it. So: nothing appears in the symlink's target, the symlink is
// untouched, and a completed transfer's file is a regular file reached without
// following any symlink.
func assertSymlinkOfferContained(t *testing.T, hs *hostileSender, receiver *testnode.Node, downloads, outside string) {
	t.Helper()
	content := []byte("written through a planted symlink\n")
	a, err := hs.offer([]transfer.Entry{fileEntry("link/x", content)}, [][]byte{content})
	if err != nil {
		t.Fatalf("offer link/x: %v", err)
	}
	t.Logf("offer link/x answered with status %d (0 accepted, 2 rejected) %s", a.Status, a.Reason)
	switch a.Status {
	case transfer.StatusRejected:
	case transfer.StatusAccepted:
		final := waitTransferEnd(t, receiver, a.ID)
		t.Logf("link/x transfer ended %s %s", final.State, final.Error)
		if final.State == api.TransferCompleted {
			where := findContent(t, downloads, content)
			if where == "" {
				t.Errorf("link/x completed but its file is nowhere in the downloads folder (symlinks not followed)")
			}
			t.Logf("link/x was placed at %s", where)
		}
	default:
		t.Errorf("offer link/x: status %d, want rejected or accepted", a.Status)
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Errorf("files appeared outside the downloads folder, in the planted symlink's target: %v", entries)
	}
	if target, err := os.Readlink(filepath.Join(downloads, "link")); err != nil || target != outside {
		t.Errorf("the user's symlink in the downloads folder was changed: %q, %v", target, err)
	}
}

// waitTransferEnd waits until the node's transfer id has ended and returns it.
func waitTransferEnd(t *testing.T, n *testnode.Node, id string) api.Transfer {
	t.Helper()
	var final api.Transfer
	testnode.WaitFor(t, stateTimeout, "transfer "+id+" to end", func() bool {
		for _, tr := range n.Transfers() {
			if tr.ID == id {
				final = tr
			}
		}
		return final.Final()
	})
	return final
}

// findContent returns the path (relative to dir) of a regular file under dir holding
// content, walking without following symlinks; "" if there is none.
func findContent(t *testing.T, dir string, content []byte) string {
	t.Helper()
	var found string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, content) {
			found, _ = filepath.Rel(dir, path)
		}
		return nil
	})
	return found
}

// assertOnlyUnder fails if anything under base (beyond the folder that holds the
// planted symlink's target, checked separately) lies outside downloads.
func assertOnlyUnder(t *testing.T, base, downloads string) {
	t.Helper()
	err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case path == base, path == filepath.Join(base, "outside"), path == downloads:
			return nil
		case strings.HasPrefix(path, downloads+string(filepath.Separator)):
			return fs.SkipDir // inside: allowed (walked by the symlink check)
		case strings.HasPrefix(downloads, path+string(filepath.Separator)):
			return nil // a parent of downloads
		}
		t.Errorf("%s was created outside the downloads folder", path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// assertStillReceives: after all that, the node takes an honest file from the same
// peer (checked byte for byte) and a message from a real node.
func assertStillReceives(t *testing.T, hs *hostileSender, receiver *testnode.Node, downloads string) {
	t.Helper()
	content := make([]byte, 2*transfer.ChunkSize+123)
	rand.Read(content)
	a, err := hs.offer([]transfer.Entry{fileEntry("honest.bin", content)}, [][]byte{content})
	if err != nil || a.Status != transfer.StatusAccepted {
		t.Fatalf("honest offer after the hostile ones: %+v, %v\nreceiver log:\n%s", a, err, tail(receiver.Log()))
	}
	testnode.WaitFor(t, stateTimeout, "the receiver's DONE for the honest file", func() bool {
		_, ok := hs.doneFor(a.ID)
		return ok
	})
	if d, _ := hs.doneFor(a.ID); d.Status != transfer.StatusCompleted {
		t.Fatalf("honest file: DONE status %d (%s)", d.Status, d.Reason)
	}
	got, err := os.ReadFile(filepath.Join(downloads, "honest.bin"))
	if err != nil || string(got) != string(content) {
		t.Fatalf("honest file not received intact: %d bytes, %v", len(got), err)
	}

	friend := testnode.Start(t, testnode.Options{Name: "Fred",
		Args: append(loopbackArgs(), "--peer", tcpAddr(t, receiver.Status().Addrs))})
	rid := receiver.Status().PeerID
	testnode.WaitFor(t, 30*time.Second, "Fred connected to Rita", func() bool { return isOnline(friend.Peers(), rid) })
	var res api.SendResult
	friend.JSON(&res, "send", rid, "still there?")
	if res.Message.State != api.StateDelivered {
		t.Fatalf("message after the hostile offers: %+v", res)
	}
}
