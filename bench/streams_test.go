package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/netlab"
)

// The baselines of BenchmarkFileTransfer: a bare libp2p stream built like the node's
// host (node/host.go: TCP and QUIC, TLS then Noise, yamux) and a raw TCP connection,
// each between two helper processes (this test binary re-executed with helperEnv set).
// A sink accepts connections and discards what it reads; a sender connects (untimed),
// then times writing the bytes with a 1 MiB buffer until the sink's 8-byte count of
// what it read comes back.
var helperRoles = map[string]func() error{
	"p2p-sink":   p2pSink,
	"p2p-send":   p2pSend,
	"tcp-sink":   tcpSink,
	"tcp-send":   tcpSend,
	"send-files": sendFilesHelper,
}

// Environment of the helpers.
const (
	envListen = "PARLEY_BENCH_LISTEN" // sinks: comma-separated listen addresses
	envTarget = "PARLEY_BENCH_TARGET" // senders: where the sink is
	envBytes  = "PARLEY_BENCH_BYTES"  // senders: how many bytes to move
	envHome   = "PARLEY_BENCH_HOME"   // send-files: the sending node's home
	envTo     = "PARLEY_BENCH_TO"     // send-files: the recipient
	envPaths  = "PARLEY_BENCH_PATHS"  // send-files: newline-separated paths
	envSource = "PARLEY_BENCH_SOURCE" // p2p-send: read the bytes from this file (file-to-file)
	envDisk   = "PARLEY_BENCH_DISK"   // p2p-sink: write file-to-file streams into this folder
)

const (
	sinkProtocol = "/parley-bench/sink/1.0.0"      // data is read and discarded
	fileProtocol = "/parley-bench/sink-file/1.0.0" // data is written to a file, fsynced, deleted
	ioBuffer     = 1 << 20
	helperDial   = 30 * time.Second // connecting a sender to its sink
	helperRun    = 10 * time.Minute // the longest one helper may run
)

// sinkInfo is the first stdout line of a sink: where it listens.
type sinkInfo struct {
	Addrs []string `json:"addrs"`
}

// streamResult is what a sender prints when it is done.
type streamResult struct {
	Bytes     int64         `json:"bytes"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	Transport string        `json:"transport"` // the connection's remote multiaddr (or address)
	Security  string        `json:"security,omitempty"`
	Muxer     string        `json:"muxer,omitempty"`
}

// newBenchHost builds a libp2p host with the node's transports, security and muxer.
func newBenchHost(listen []string) (host.Host, error) {
	return libp2p.New(
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(tls.ID, tls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
	)
}

func p2pSink() error {
	h, err := newBenchHost(strings.Split(os.Getenv(envListen), ","))
	if err != nil {
		return err
	}
	defer h.Close()
	h.SetStreamHandler(sinkProtocol, func(s network.Stream) { answerCount(s, drain) })
	h.SetStreamHandler(fileProtocol, func(s network.Stream) {
		answerCount(s, func(r io.Reader) (int64, error) { return toDisk(r, os.Getenv(envDisk)) })
	})
	var info sinkInfo
	for _, a := range h.Addrs() {
		info.Addrs = append(info.Addrs, a.Encapsulate(ma.StringCast("/p2p/"+h.ID().String())).String())
	}
	return serveUntilStdinCloses(info)
}

// answerCount reads the stream with read and writes back the count of bytes read.
func answerCount(s network.Stream, read func(io.Reader) (int64, error)) {
	n, err := read(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		s.Reset()
		return
	}
	s.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
	s.Close()
}

// toDisk copies r into a new file in dir with 1 MiB reads and writes, fsyncs it, and
// deletes it: what a receiver that does nothing but store the bytes costs.
func toDisk(r io.Reader, dir string) (int64, error) {
	f, err := os.CreateTemp(dir, "sink-*.bin")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, struct{ io.Reader }{r}, make([]byte, ioBuffer))
	if err != nil {
		return n, err
	}
	return n, f.Sync()
}

// drain reads r to its end with a 1 MiB buffer and returns how much it read.
func drain(r io.Reader) (int64, error) {
	buf := make([]byte, ioBuffer)
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// serveUntilStdinCloses prints info as one JSON line, then waits for the parent to
// close stdin (or die).
func serveUntilStdinCloses(info sinkInfo) error {
	if err := json.NewEncoder(os.Stdout).Encode(info); err != nil {
		return err
	}
	io.Copy(io.Discard, os.Stdin)
	return nil
}

func p2pSend() error {
	target, err := peer.AddrInfoFromString(os.Getenv(envTarget))
	if err != nil {
		return err
	}
	size, err := strconv.ParseInt(os.Getenv(envBytes), 10, 64)
	if err != nil {
		return err
	}
	h, err := newBenchHost(nil)
	if err != nil {
		return err
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), helperDial)
	defer cancel()
	if err := h.Connect(ctx, *target); err != nil {
		return err
	}
	proto, src := protocol.ID(sinkProtocol), io.Reader(nil)
	if path := os.Getenv(envSource); path != "" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		proto, src = fileProtocol, f
	}
	start := time.Now()
	s, err := h.NewStream(ctx, target.ID, proto)
	if err != nil {
		return err
	}
	if err := sendAndConfirm(s, s.CloseWrite, src, size); err != nil {
		s.Reset()
		return err
	}
	res := streamResult{Bytes: size, Elapsed: time.Since(start), Transport: s.Conn().RemoteMultiaddr().String()}
	st := s.Conn().ConnState()
	res.Security, res.Muxer = string(st.Security), string(st.StreamMultiplexer)
	s.Close()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// sendAndConfirm writes size bytes to rw in 1 MiB writes, half-closes it, and checks
// the sink's count of what it read. The bytes come from src (read 1 MiB at a time), or
// from one random 1 MiB buffer written again and again when src is nil.
func sendAndConfirm(rw io.ReadWriter, closeWrite func() error, src io.Reader, size int64) error {
	buf := make([]byte, ioBuffer)
	rand.NewChaCha8([32]byte{'b', 'e', 'n', 'c', 'h'}).Read(buf)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		if src != nil {
			if _, err := io.ReadFull(src, buf[:n]); err != nil {
				return fmt.Errorf("read the source: %w", err)
			}
		}
		if _, err := rw.Write(buf[:n]); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		left -= n
	}
	if err := closeWrite(); err != nil {
		return fmt.Errorf("close write: %w", err)
	}
	var count [8]byte
	if _, err := io.ReadFull(rw, count[:]); err != nil {
		return fmt.Errorf("read the sink's count: %w", err)
	}
	if got := int64(binary.BigEndian.Uint64(count[:])); got != size {
		return fmt.Errorf("the sink read %d bytes of %d", got, size)
	}
	return nil
}

func tcpSink() error {
	ln, err := net.Listen("tcp", os.Getenv(envListen))
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if n, err := drain(c); err == nil {
					c.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
				}
			}()
		}
	}()
	return serveUntilStdinCloses(sinkInfo{Addrs: []string{ln.Addr().String()}})
}

func tcpSend() error {
	size, err := strconv.ParseInt(os.Getenv(envBytes), 10, 64)
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", os.Getenv(envTarget), helperDial)
	if err != nil {
		return err
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	start := time.Now()
	if err := sendAndConfirm(c, tc.CloseWrite, nil, size); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(streamResult{Bytes: size, Elapsed: time.Since(start), Transport: "tcp " + c.RemoteAddr().String()})
}

// sendFilesHelper runs timedSendFiles against the node whose home is in envHome and
// prints the result: BenchmarkFileTransfer runs it inside a netlab host, whose nodes'
// APIs only listen on that namespace's loopback.
func sendFilesHelper() error {
	cl, err := client.New(os.Getenv(envHome))
	if err != nil {
		return err
	}
	res, err := timedSendFiles(cl, os.Getenv(envTo), strings.Split(os.Getenv(envPaths), "\n"))
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// ---- the benchmark's side ----

// helperProc is a helper running beside the benchmark (a sink).
type helperProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	info  sinkInfo
	done  chan struct{}
}

// helperCommand runs this test binary in role, in h's namespace (nil: here).
func helperCommand(ctx context.Context, h *netlab.Host, role string, env ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if h != nil {
		cmd = h.Command(ctx, os.Args[0], "-test.run=^$")
	} else {
		cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	}
	cmd.Env = append(append(os.Environ(), helperEnv+"="+role), env...)
	return cmd
}

// startSink starts a sink helper and waits for the addresses it listens on. It is
// stopped at cleanup.
func startSink(b *testing.B, h *netlab.Host, role, listen string, env ...string) *helperProc {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := helperCommand(ctx, h, role, append([]string{envListen + "=" + listen}, env...)...)
	var stderr lockedWriter
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", role, err)
	}
	p := &helperProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	b.Cleanup(func() {
		stdin.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			cancel()
			<-p.done
		}
		cancel()
	})
	line, err := readLineWithin(stdout, helperDial)
	if err != nil {
		b.Fatalf("%s did not start: %v\n%s", role, err, stderr.String())
	}
	if err := json.Unmarshal(line, &p.info); err != nil || len(p.info.Addrs) == 0 {
		b.Fatalf("%s printed %q: %v", role, line, err)
	}
	go io.Copy(io.Discard, stdout)
	return p
}

// readLineWithin reads one line from r, giving up after d.
func readLineWithin(r io.Reader, d time.Duration) ([]byte, error) {
	type result struct {
		line []byte
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadBytes('\n')
		ch <- result{line, err}
	}()
	select {
	case res := <-ch:
		return res.line, res.err
	case <-time.After(d):
		return nil, errors.New("timed out")
	}
}

// runHelper runs a helper to its end and decodes what it printed into v.
func runHelper(b *testing.B, h *netlab.Host, role string, v any, env ...string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), helperRun)
	defer cancel()
	cmd := helperCommand(ctx, h, role, env...)
	var stderr lockedWriter
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("helper %s: %v\n%s", role, err, stderr.String())
	}
	if err := json.Unmarshal(out, v); err != nil {
		b.Fatalf("helper %s printed %q: %v", role, out, err)
	}
}

// sinkAddr picks the sink's address of the given transport ("tcp" or "quic-v1").
func sinkAddr(b *testing.B, p *helperProc, transport string) string {
	b.Helper()
	for _, a := range p.info.Addrs {
		if strings.Contains(a, "/"+transport+"/") || strings.HasSuffix(a, "/"+transport) {
			return a
		}
	}
	b.Fatalf("the sink has no %s address: %v", transport, p.info.Addrs)
	return ""
}

type lockedWriter struct {
	mu sync.Mutex
	sb strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sb.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sb.String()
}
