// Command eventprobe is a test tool that runs beside a node, in the node's namespace,
// and stamps what it sees with the wall clock, so tests and benchmarks in another
// namespace can time presence changes without a CLI process start in the way.
//
//	eventprobe -home HOME watch PEERID
//
// follows the node's event stream (GET /v1/events). Once the node has answered the
// request (and so has subscribed it), it prints {"ready":true}; then one line
// {"at_ns":…,"peer":{…}} for every peer event about PEERID. It reads the stream itself
// rather than through client.Events, which has no way to say that the subscription is
// live.
//
//	eventprobe -home HOME set
//
// reads lines "PRESENCE<TAB>STATUS TEXT" from stdin and sets each through the client
// package, printing {"at_ns":…,"done_ns":…} (just before and after the API call) or
// {"error":…} per line.
//
// Both end when stdin closes, so a probe never outlives the test that started it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
)

// PeerLine is one line of `watch` output after the first.
type PeerLine struct {
	AtNS int64    `json:"at_ns"`
	Peer api.Peer `json:"peer"`
}

// SetLine is one line of `set` output.
type SetLine struct {
	AtNS   int64  `json:"at_ns"`
	DoneNS int64  `json:"done_ns"`
	Error  string `json:"error,omitempty"`
}

func main() {
	home := flag.String("home", "", "the node's home directory")
	flag.Parse()
	var err error
	switch {
	case *home == "" || flag.NArg() == 0:
		err = errors.New("usage: eventprobe -home HOME watch PEERID | set")
	case flag.Arg(0) == "watch" && flag.NArg() == 2:
		err = watch(*home, flag.Arg(1))
	case flag.Arg(0) == "set" && flag.NArg() == 1:
		err = set(*home)
	default:
		err = fmt.Errorf("unknown command %q", flag.Args())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eventprobe:", err)
		os.Exit(1)
	}
}

// watch prints the peer events about id until stdin closes or the stream ends.
func watch(home, id string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { io.Copy(io.Discard, os.Stdin); cancel() }()
	resp, err := openEvents(ctx, home)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(map[string]bool{"ready": true}); err != nil {
		return err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		at := time.Now().UnixNano()
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e api.Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return fmt.Errorf("bad event %q: %w", data, err)
		}
		if e.Type == api.EventPeer && e.Peer != nil && e.Peer.PeerID == id {
			if err := out.Encode(PeerLine{AtNS: at, Peer: *e.Peer}); err != nil {
				return err
			}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("event stream ended: %v", sc.Err())
}

// openEvents requests the event stream the way the client package does and returns
// once the node has answered with 200.
func openEvents(ctx context.Context, home string) (*http.Response, error) {
	addr, err := os.ReadFile(filepath.Join(home, api.AddrFile))
	if err != nil {
		return nil, fmt.Errorf("is the node running? %w", err)
	}
	token, err := os.ReadFile(filepath.Join(home, api.TokenFile))
	if err != nil {
		return nil, err
	}
	url := "http://" + strings.TrimSpace(string(addr)) + api.PathEvents
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", api.PathEvents, resp.Status)
	}
	return resp, nil
}

// set applies every stdin line as a presence change.
func set(home string) error {
	cl, err := client.New(home)
	if err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		presence, status, _ := strings.Cut(sc.Text(), "\t")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		line := SetLine{AtNS: time.Now().UnixNano()}
		_, err := cl.SetPresence(ctx, presence, status)
		line.DoneNS = time.Now().UnixNano()
		cancel()
		if err != nil {
			line.Error = err.Error()
		}
		if err := out.Encode(line); err != nil {
			return err
		}
	}
	return sc.Err()
}
