package stun

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	pstun "github.com/pion/stun/v3"
)

// checkLeaks fails the test if goroutines started during it are still running at its end.
// Register it first so its cleanup runs after every other one.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutines leaked: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// serve runs r on pc until the test ends, then checks Close makes Serve return ErrResponderClosed.
func serve(t *testing.T, r *Responder, pc net.PacketConn) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.Serve(pc) }()
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrResponderClosed) {
			t.Errorf("Serve returned %v, want ErrResponderClosed", err)
		}
	})
}

// startResponder serves r on a new loopback socket and returns its address.
func startResponder(t *testing.T, r *Responder) string {
	t.Helper()
	pc := listen(t, "127.0.0.1:0")
	serve(t, r, pc)
	return pc.LocalAddr().String()
}

func listen(t *testing.T, addr string) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

func local(pc net.PacketConn) netip.AddrPort {
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestMappedLoopback(t *testing.T) {
	checkLeaks(t)
	r := &Responder{}
	server := startResponder(t, r)
	conn := listen(t, "127.0.0.1:0")
	got, err := Mapped(ctxT(t, 5*time.Second), conn, server)
	if err != nil {
		t.Fatalf("Mapped: %v", err)
	}
	if want := local(conn); got != want {
		t.Fatalf("Mapped = %v, want the socket's own address %v", got, want)
	}
	waitStats(t, r, Stats{Received: 1, Answered: 1})
}

func TestServeAfterCloseAndCloseIdempotent(t *testing.T) {
	checkLeaks(t)
	r := &Responder{}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(listen(t, "127.0.0.1:0")); !errors.Is(err, ErrResponderClosed) {
		t.Fatalf("Serve after Close = %v, want ErrResponderClosed", err)
	}
}

var goldenTxID = [12]byte{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae}

// goldenRequest is a bare Binding request: type, length 0, magic cookie, transaction ID.
var goldenRequest = append(mustHex("000100002112a442"), goldenTxID[:]...)

// goldenReply is the answer to goldenRequest from 198.18.0.2:32853: XOR-MAPPED-ADDRESS,
// SOFTWARE "parley" (padded), FINGERPRINT.
const goldenReply = "010100202112a442b7e7a701bc34d686fa87dfae" + // header, length 32
	"002000080001a147e700a440" + // XOR-MAPPED-ADDRESS, IPv4, port and address XORed
	"80220006" + "7061726c65790000" + // SOFTWARE "parley" + 2 bytes padding
	"80280004d99297bc" // FINGERPRINT

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestReplyGolden(t *testing.T) {
	src := netip.MustParseAddrPort("198.18.0.2:32853")
	got := answer(goldenRequest, src)
	if hex.EncodeToString(got) != goldenReply {
		t.Fatalf("reply\n got %x\nwant %s", got, goldenReply)
	}
	mapped, err := parseReply(got, goldenTxID)
	if err != nil || mapped != src {
		t.Fatalf("parseReply = %v, %v; want %v", mapped, err, src)
	}
}

// junk returns datagrams that must get no reply, by name.
func junk() map[string][]byte {
	valid := func(setters ...pstun.Setter) []byte {
		return pstun.MustBuild(append([]pstun.Setter{pstun.TransactionID}, setters...)...).Raw
	}
	badFP := valid(pstun.BindingRequest, pstun.Fingerprint)
	badFP[len(badFP)-1] ^= 1
	longer := append(valid(pstun.BindingRequest), 0, 0, 0, 0) // 4 bytes beyond Length
	shorter := valid(pstun.BindingRequest, pstun.NewSoftware("abcd"))
	binary.BigEndian.PutUint16(shorter[2:], 4) // Length says less than the datagram holds
	noCookie := valid(pstun.BindingRequest)
	noCookie[4] = 0 // RFC 3489
	oversized := valid(pstun.BindingRequest, pstun.RawAttribute{Type: 0x8030, Value: make([]byte, MaxRequestSize)})
	return map[string][]byte{
		"empty":           {},
		"one byte":        {0},
		"19 bytes":        goldenRequest[:19],
		"text":            []byte("GET / HTTP/1.1\r\n\r\n"),
		"zeros":           make([]byte, 100),
		"odd length":      append(valid(pstun.BindingRequest), 0),
		"longer":          longer,
		"shorter":         shorter,
		"no cookie":       noCookie,
		"bad attribute":   append(mustHex("000100082112a442"), append(goldenTxID[:], mustHex("00200010aabbccdd")...)...),
		"bad fingerprint": badFP,
		"oversized":       oversized,
		"success":         valid(pstun.BindingSuccess),
		"error":           valid(pstun.BindingError),
		"indication":      valid(pstun.NewType(pstun.MethodBinding, pstun.ClassIndication)),
		"allocate":        valid(pstun.NewType(pstun.MethodAllocate, pstun.ClassRequest)),
	}
}

func TestAnswerDropsJunk(t *testing.T) {
	src := netip.MustParseAddrPort("198.18.0.2:1000")
	for name, b := range junk() {
		if got := answer(b, src); got != nil {
			t.Errorf("%s: got reply %x, want none", name, got)
		}
	}
}

// TestJunkOverTheWire sends every kind of junk and then a valid request: the only reply is the
// valid one's, and the responder counts the rest as dropped.
func TestJunkOverTheWire(t *testing.T) {
	checkLeaks(t)
	r := &Responder{}
	server, _ := net.ResolveUDPAddr("udp4", startResponder(t, r))
	conn := listen(t, "127.0.0.1:0")
	all := junk()
	for name, b := range all {
		if _, err := conn.WriteTo(b, server); err != nil && name != "oversized" {
			t.Fatalf("send %s: %v", name, err)
		}
	}
	got, err := Mapped(ctxT(t, 5*time.Second), conn, server.String())
	if err != nil || got != local(conn) {
		t.Fatalf("Mapped after junk = %v, %v; want %v", got, err, local(conn))
	}
	waitStats(t, r, Stats{Received: uint64(len(all)) + 1, Answered: 1, Dropped: uint64(len(all))})
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 1500)
	if n, _, err := conn.ReadFrom(buf); err == nil {
		t.Fatalf("a junk datagram got a reply: %x", buf[:n])
	}
}

// TestRateLimit floods from one source: it gets Burst replies; another source is still answered.
func TestRateLimit(t *testing.T) {
	checkLeaks(t)
	frozen := time.Now()
	r := &Responder{Limit: Limit{Rate: 1, Burst: 5}, now: func() time.Time { return frozen }}
	server, _ := net.ResolveUDPAddr("udp4", startResponder(t, r))
	flooder := listen(t, "127.0.0.1:0")
	const flood = 50
	for range flood {
		if _, err := flooder.WriteTo(goldenRequest, server); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the flood to be handled", func() bool { return r.Stats().Received == flood })
	if got := countReplies(t, flooder); got != 5 {
		t.Fatalf("flooding source got %d replies, want the burst of 5", got)
	}
	other := listen(t, "127.0.0.2:0")
	got, err := Client{Tries: 1, Interval: 2 * time.Second}.Mapped(ctxT(t, 5*time.Second), other, server.String())
	if err != nil || got != local(other) {
		t.Fatalf("other source during the flood: %v, %v; want %v", got, err, local(other))
	}
	waitStats(t, r, Stats{Received: flood + 1, Answered: 6, Dropped: flood - 5, RateLimited: flood - 5})
}

func countReplies(t *testing.T, pc net.PacketConn) int {
	t.Helper()
	buf := make([]byte, 1500)
	n := 0
	for {
		pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, _, err := pc.ReadFrom(buf); err != nil {
			return n
		}
		n++
	}
}

// waitStats waits for r's counters to reach want: a reply can arrive before the responder has
// counted it.
func waitStats(t *testing.T, r *Responder, want Stats) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := r.Stats()
		if s == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v, want %+v", s, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRateLimitRefillAndTable checks refill over time, the bound on tracked sources and the
// shared overflow bucket.
func TestRateLimitRefillAndTable(t *testing.T) {
	now := time.Unix(1000, 0)
	r := &Responder{Limit: Limit{Rate: 2, Burst: 2}, MaxSources: 2, now: func() time.Time { return now }}
	a, b, c, d := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"),
		netip.MustParseAddr("198.18.0.3"), netip.MustParseAddr("198.18.0.4")
	take := func(ip netip.Addr, n int) int {
		ok := 0
		for range n {
			if r.allow(ip) {
				ok++
			}
		}
		return ok
	}
	if got := take(a, 5); got != 2 {
		t.Fatalf("a: %d allowed, want burst 2", got)
	}
	now = now.Add(500 * time.Millisecond) // one token at 2/s
	if got := take(a, 5); got != 1 {
		t.Fatalf("a after 0.5 s: %d allowed, want 1", got)
	}
	take(b, 1)
	if got := take(c, 5) + take(d, 5); got != 2 {
		t.Fatalf("c and d with a full table: %d allowed, want one shared burst of 2", got)
	}
	if len(r.buckets) != 2 {
		t.Fatalf("%d buckets, want at most MaxSources=2", len(r.buckets))
	}
	now = now.Add(2 * time.Second) // a and b idle long enough to refill: swept for newcomers
	if got := take(c, 5); got != 2 {
		t.Fatalf("c after the table was swept: %d allowed, want its own burst of 2", got)
	}
}

// fakeServer answers Binding requests on a loopback socket through reply, which sees the
// request number (from 1) and the answer our responder would give, and returns what to send.
func fakeServer(t *testing.T, reply func(n int, req, ans []byte) [][]byte) (string, <-chan []byte) {
	t.Helper()
	pc := listen(t, "127.0.0.1:0")
	reqs := make(chan []byte, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for n := 1; ; n++ {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := append([]byte(nil), buf[:k]...)
			reqs <- req
			src, _ := addrPort(from)
			for _, b := range reply(n, req, answer(req, src)) {
				pc.WriteTo(b, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String(), reqs
}

func TestMappedRetransmitsWithSameTransaction(t *testing.T) {
	checkLeaks(t)
	server, reqs := fakeServer(t, func(n int, _, ans []byte) [][]byte {
		if n < 3 {
			return nil // lose the first two
		}
		return [][]byte{ans}
	})
	conn := listen(t, "127.0.0.1:0")
	got, err := Client{Interval: 100 * time.Millisecond}.Mapped(ctxT(t, 5*time.Second), conn, server)
	if err != nil || got != local(conn) {
		t.Fatalf("Mapped = %v, %v; want %v", got, err, local(conn))
	}
	first := <-reqs
	for range 2 {
		if again := <-reqs; !bytes.Equal(again, first) {
			t.Fatalf("retransmission differs:\n%x\n%x", first, again)
		}
	}
}

func TestMappedIgnoresOtherTransactionsAndSources(t *testing.T) {
	checkLeaks(t)
	conn := listen(t, "127.0.0.1:0")
	stranger := listen(t, "127.0.0.1:0")
	server, _ := fakeServer(t, func(_ int, req, ans []byte) [][]byte {
		// A stranger who saw the request answers it first with a lie: not from the server.
		lie := answer(req, netip.MustParseAddrPort("198.18.9.9:9"))
		stranger.WriteTo(lie, conn.LocalAddr())
		wrongTx := bytes.Clone(ans)
		wrongTx[19] ^= 1
		badFP := bytes.Clone(lie)
		badFP[len(badFP)-1] ^= 1
		return [][]byte{wrongTx, badFP, lie[:len(lie)-1], []byte("junk"), ans}
	})
	got, err := Client{Tries: 1, Interval: 2 * time.Second}.Mapped(ctxT(t, 5*time.Second), conn, server)
	if err != nil || got != local(conn) {
		t.Fatalf("Mapped = %v, %v; want %v", got, err, local(conn))
	}
}

func TestMappedNoResponseAndCancel(t *testing.T) {
	checkLeaks(t)
	silent := listen(t, "127.0.0.1:0") // reads nothing, answers nothing
	conn := listen(t, "127.0.0.1:0")
	start := time.Now()
	_, err := Client{Tries: 2, Interval: 50 * time.Millisecond}.Mapped(ctxT(t, 5*time.Second), conn, silent.LocalAddr().String())
	if !errors.Is(err, ErrNoResponse) {
		t.Fatalf("Mapped from a silent server = %v, want ErrNoResponse", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("gave up after %v, want about 100 ms", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = Client{Tries: 3, Interval: 5 * time.Second}.Mapped(ctx, conn, silent.LocalAddr().String())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Mapped after cancel = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("returned %v after cancel, want promptly", d)
	}
	// The read deadline is cleared: a datagram already queued is read, not a timeout.
	if _, err := silent.WriteTo([]byte("after"), conn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, _, err := conn.ReadFrom(buf); err != nil || string(buf[:n]) != "after" {
		t.Fatalf("read after a cancelled Mapped: %q, %v; want the deadline cleared", buf[:n], err)
	}
}

func TestMappedErrorResponseAndBadServer(t *testing.T) {
	checkLeaks(t)
	server, _ := fakeServer(t, func(_ int, req, _ []byte) [][]byte {
		var m pstun.Message
		m.Raw = req
		_ = m.Decode()
		res := pstun.MustBuild(pstun.NewTransactionIDSetter(m.TransactionID), pstun.BindingError,
			pstun.CodeBadRequest, pstun.Fingerprint)
		return [][]byte{res.Raw}
	})
	conn := listen(t, "127.0.0.1:0")
	_, err := Mapped(ctxT(t, 5*time.Second), conn, server)
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("Mapped against an error response = %v, want the 400 in the error", err)
	}
	for _, bad := range []string{"127.0.0.1:0", "127.0.0.1:x", "127.0.0.1:70000"} {
		if _, err := Mapped(ctxT(t, 5*time.Second), conn, bad); err == nil {
			t.Errorf("Mapped(%q) succeeded, want a bad-port error", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	for in, want := range map[string]string{
		"198.18.0.1:5000": "198.18.0.1:5000",
		"198.18.0.1":      "198.18.0.1:3478",
		"[::1]:5000":      "[::1]:5000",
		"[::1]":           "[::1]:3478",
		"::1":             "[::1]:3478",
	} {
		got, err := resolve(t.Context(), in, &net.UDPAddr{IP: net.IPv4zero})
		if err != nil || got.String() != want {
			t.Errorf("resolve(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
}

func TestProbeLoopback(t *testing.T) {
	checkLeaks(t)
	a, b := startResponder(t, &Responder{}), startResponder(t, &Responder{})
	rep, err := Probe(ctxT(t, 10*time.Second), []string{a, b})
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if !rep.EndpointIndependent || rep.Mapping != MappingEndpointIndependent {
		t.Fatalf("loopback mapping = %q, want endpoint-independent: %+v", rep.Mapping, rep)
	}
	if rep.Mapped.Addr() != netip.MustParseAddr("127.0.0.1") || rep.Mapped.Port() == 0 {
		t.Fatalf("Mapped = %v, want 127.0.0.1:<the probe socket's port>", rep.Mapped)
	}
	for _, r := range rep.Results {
		if r.Mapped != rep.Mapped || r.Error != "" {
			t.Fatalf("result %+v, want %v", r, rep.Mapped)
		}
	}
}

func TestProbeWithADeadServer(t *testing.T) {
	checkLeaks(t)
	a := startResponder(t, &Responder{})
	dead := listen(t, "127.0.0.1:0").LocalAddr().String()
	conn := listen(t, "127.0.0.1:0")
	c := Client{Tries: 1, Interval: 100 * time.Millisecond}
	rep, err := c.ProbeConn(ctxT(t, 5*time.Second), conn, []string{dead, a})
	if err != nil {
		t.Fatalf("ProbeConn with one live server: %v", err)
	}
	if rep.Mapping != MappingUnknown || rep.EndpointIndependent || rep.Mapped != local(conn) {
		t.Fatalf("report %+v, want unknown mapping and mapped %v", rep, local(conn))
	}
	if rep.Results[0].Error == "" || rep.Results[1].Error != "" {
		t.Fatalf("results %+v, want the dead server's error only", rep.Results)
	}
	if _, err := c.ProbeConn(ctxT(t, 5*time.Second), conn, []string{dead}); !errors.Is(err, ErrNoResponse) {
		t.Fatalf("ProbeConn with no live server = %v, want ErrNoResponse", err)
	}
}

func TestReportJudgeAndJSON(t *testing.T) {
	m1, m2 := netip.MustParseAddrPort("198.18.1.1:4000"), netip.MustParseAddrPort("198.18.1.1:4001")
	s1, s2 := netip.MustParseAddrPort("198.19.0.1:3478"), netip.MustParseAddrPort("198.19.0.2:3478")
	rep := Report{Local: "0.0.0.0:5000", Results: []Result{
		{Server: "a", Address: s1, Mapped: m1},
		{Server: "b", Address: s2, Mapped: m2},
		{Server: "c", Error: "stun: no response"},
	}}
	rep.judge()
	if rep.Mapping != MappingEndpointDependent || rep.EndpointIndependent || rep.Mapped != m1 {
		t.Fatalf("judge: %+v, want endpoint-dependent, mapped %v", rep, m1)
	}
	got, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"local":"0.0.0.0:5000","mapped":"198.18.1.1:4000","mapping":"endpoint-dependent",` +
		`"endpoint_independent":false,"results":[` +
		`{"server":"a","address":"198.19.0.1:3478","mapped":"198.18.1.1:4000"},` +
		`{"server":"b","address":"198.19.0.2:3478","mapped":"198.18.1.1:4001"},` +
		`{"server":"c","error":"stun: no response"}]}`
	if string(got) != want {
		t.Fatalf("JSON\n got %s\nwant %s", got, want)
	}
	// The same server twice says nothing about the mapping.
	same := Report{Results: []Result{{Address: s1, Mapped: m1}, {Address: s1, Mapped: m1}}}
	same.judge()
	if same.Mapping != MappingUnknown {
		t.Fatalf("one server asked twice: %q, want unknown", same.Mapping)
	}
}
