package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/daemon"
)

// lineWriter collects output and closes first once a whole line has been written.
type lineWriter struct {
	syncBuffer
	once  sync.Once
	first chan struct{}
}

func newLineWriter() *lineWriter { return &lineWriter{first: make(chan struct{})} }

func (w *lineWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if bytes.Contains(p, []byte("\n")) {
		w.once.Do(func() { close(w.first) })
	}
	return n, err
}

// serveRendezvous runs `parley rendezvous serve ARGS...` on loopback in a goroutine
// until the test cancels it; it returns the output once the first line is out.
func serveRendezvous(t *testing.T, home string, args ...string) (out *lineWriter, stop func() result) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = newLineWriter()
	var stderr syncBuffer
	code := make(chan int, 1)
	argv := append([]string{"parley", "--home", home, "rendezvous", "serve",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--stun", "127.0.0.1:0", "--metrics", "127.0.0.1:0"}, args...)
	go func() { code <- run(ctx, argv, strings.NewReader(""), out, &stderr) }()
	stopped := false
	stop = func() result {
		t.Helper()
		cancel()
		stopped = true
		select {
		case c := <-code:
			return result{code: c, stdout: out.String(), stderr: stderr.String()}
		case <-time.After(30 * time.Second):
			t.Fatal("rendezvous serve did not return after its context was canceled")
			return result{}
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	select {
	case <-out.first:
	case c := <-code:
		stopped = true
		cancel()
		t.Fatalf("rendezvous serve ended before printing its address: exit %d\n%s", c, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("rendezvous serve printed nothing in time; stderr:\n%s", stderr.String())
	}
	return out, stop
}

func TestRendezvousServeJSON(t *testing.T) {
	out, stop := serveRendezvous(t, t.TempDir(), "--json", "--relay", "--relay-data", "1MiB")
	var in daemon.RendezvousInfo
	if err := json.Unmarshal([]byte(out.String()), &in); err != nil {
		t.Fatalf("first line is not the server's JSON: %v\n%s", err, out.String())
	}
	if in.PeerID == "" || len(in.Addrs) == 0 || !strings.HasPrefix(in.Addrs[0], "/ip4/127.0.0.1/tcp/") ||
		!strings.HasSuffix(in.Addrs[0], "/p2p/"+in.PeerID) || in.STUN == "" || in.Metrics == "" || !in.Relay {
		t.Errorf("serve --json printed %+v", in)
	}
	if r := stop(); r.code != 0 {
		t.Errorf("after cancel: %s", r)
	}
}

func TestRendezvousServeText(t *testing.T) {
	_, stop := serveRendezvous(t, t.TempDir(), "--stun", "off")
	r := stop()
	wantOutput(t, r, 0, []string{"Peer ID:", "/ip4/127.0.0.1/tcp/", "/p2p/12D3", "STUN:         off", "Relay:        off"}, nil)
}

func TestRendezvousServeTwiceOnOneHomeFails(t *testing.T) {
	home := t.TempDir()
	serveRendezvous(t, home, "--json")
	r := parley(t, nil, "--home", home, "rendezvous", "serve", "--listen", "/ip4/127.0.0.1/tcp/0", "--stun", "off", "--metrics", "off")
	wantOutput(t, r, 1, nil, []string{"already running", home})
}

func TestRendezvousServeUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"rendezvous", "serve", "--relay-data", "lots"},
		{"rendezvous", "serve", "--relay-duration", "0s"},
		{"rendezvous", "serve", "--max-per-ip", "-1"},
		{"rendezvous", "serve", "--max-per-peer", "-5"},
		{"rendezvous", "serve", "--max-per-ip", "many"},
		{"rendezvous", "serve", "--bogus"},
		{"rendezvous", "serve", "extra"},
		{"rendezvous", "bogus"},
	} {
		r := parley(t, nil, append([]string{"--home", t.TempDir()}, args...)...)
		if r.code != 2 {
			t.Errorf("parley %s: %s\nwant exit 2", strings.Join(args, " "), r)
		}
	}
}
