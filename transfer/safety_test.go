package transfer

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"lukechampine.com/blake3"
)

// rawOffer sends one hand-built OFFER frame from h to the receiver and returns the
// answer (or the error when the receiver resets the stream).
func rawOffer(t *testing.T, h host.Host, to *side, frame []byte) (Answer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	st, err := h.NewStream(ctx, to.h.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Write(frame); err != nil {
		return Answer{}, err
	}
	typ, p, err := ReadFrame(bufio.NewReader(st))
	if err != nil {
		return Answer{}, err
	}
	if typ != TypeAnswer {
		t.Fatalf("reply of type 0x%02x", byte(typ))
	}
	return ParseAnswer(p)
}

// fileEntry is a valid entry holding content at path (chunk size MinChunkSize).
func fileEntry(path, content string) Entry {
	sum := blake3.Sum256([]byte(content))
	chunks := sum[:]
	if content == "" {
		chunks = []byte{}
	}
	return Entry{Path: path, Kind: KindFile, Size: int64(len(content)), Mode: 0644, Chunks: chunks, Hash: FileHash(chunks)}
}

// TestHostileOffers: a third host speaks the protocol by hand. Every offer with an
// unsafe or inconsistent name is rejected, naming it, and nothing is written anywhere.
func TestHostileOffers(t *testing.T) {
	b := newSide(t, newHost(t, nil), nil)
	evil := newHost(t, nil)
	connect(t, evil, b.h)
	outside := t.TempDir()
	cases := map[string][]Entry{
		"../../etc/passwd":      {fileEntry("../../etc/passwd", "root::0:0")},
		"/etc/passwd":           {fileEntry("/etc/passwd", "x")},
		"a/../../x":             {fileEntry("a/../../x", "x")},
		"outside via absolute":  {fileEntry(strings.TrimPrefix(outside, "/")+"/../../x", "x")},
		"..\\..\\windows":       {fileEntry("..\\..\\windows\\win.ini", "x")},
		"CON":                   {fileEntry("CON", "x")},
		"aux.txt":               {fileEntry("dir/aux.txt", "x")},
		"LPT1.log":              {fileEntry("LPT1.log", "x")},
		"nul\x00byte":           {fileEntry("nul\x00byte", "x")},
		"new\nline":             {fileEntry("new\nline", "x")},
		".parley-partial/x":     {fileEntry(".parley-partial/0123/x.part", "x")},
		".parley-quarantine/y":  {fileEntry(".parley-quarantine/y", "x")},
		"empty component":       {fileEntry("a//b", "x")},
		"trailing slash":        {fileEntry("a/", "x")},
		"duplicate":             {fileEntry("same", "x"), fileEntry("same", "y")},
		"file used as dir":      {fileEntry("f", "x"), fileEntry("f/g", "y")},
		"dir and file":          {{Path: "d", Kind: KindDir, Mode: 0755}, fileEntry("d", "x")},
		"component over 255":    {fileEntry(strings.Repeat("n", 256), "x")},
		"path over 4096":        {fileEntry(strings.Repeat("d/", 2048)+"f", "x")},
		"setuid mode":           {{Path: "s", Kind: KindFile, Size: 0, Mode: 04755, Chunks: []byte{}, Hash: FileHash(nil)}},
		"lying content hash":    {{Path: "h", Kind: KindFile, Size: 0, Mode: 0644, Chunks: []byte{}}},
		"size without hashes":   {{Path: "z", Kind: KindFile, Size: 1 << 40, Mode: 0644, Chunks: []byte{}, Hash: FileHash(nil)}},
		"not UTF-8 \xff":        {fileEntry("bad\xffname", "x")},
		"device with space":     {fileEntry("prn .txt", "x")},
		"dots only":             {fileEntry("..", "x")},
		"current dir component": {fileEntry("./x", "x")},
	}
	for name, entries := range cases {
		m := Manifest{ChunkSize: MinChunkSize, Entries: entries}
		o := Offer{ID: TransferID(evil.ID(), b.h.ID(), &m), Fresh: true, Manifest: m}
		a, err := rawOffer(t, evil, b, AppendOffer(nil, o))
		if err != nil {
			t.Errorf("%q: %v, want a rejection", name, err)
			continue
		}
		if a.Status != StatusRejected || a.Reason == "" {
			t.Errorf("%q: answered %d %q, want rejected with a reason", name, a.Status, a.Reason)
		}
	}
	if tree := listTree(t, b.cfg.Downloads); len(tree) != 0 {
		t.Errorf("hostile offers left %v in the downloads folder", tree)
	}
	if tree := listTree(t, outside); len(tree) != 0 {
		t.Errorf("hostile offers wrote %v outside", tree)
	}
	if n := len(b.m.List()); n != 0 {
		t.Errorf("%d rejected offers kept", n)
	}
}

// TestHostileOfferNamesTheOffender: the rejection says which name was refused.
func TestHostileOfferNamesTheOffender(t *testing.T) {
	b := newSide(t, newHost(t, nil), nil)
	evil := newHost(t, nil)
	connect(t, evil, b.h)
	m := Manifest{ChunkSize: MinChunkSize, Entries: []Entry{fileEntry("ok.txt", "x"), fileEntry("sub/../../../etc/cron.d/x", "y")}}
	a, err := rawOffer(t, evil, b, AppendOffer(nil, Offer{ID: TransferID(evil.ID(), b.h.ID(), &m), Manifest: m}))
	if err != nil || a.Status != StatusRejected || !strings.Contains(a.Reason, "sub/../../../etc/cron.d/x") {
		t.Errorf("answer %+v (%v), want rejected naming the path", a, err)
	}
}

// TestMalformedOffersReset: broken frames reset the stream; a wrong ID is rejected.
func TestMalformedOffersReset(t *testing.T) {
	b := newSide(t, newHost(t, nil), nil)
	evil := newHost(t, nil)
	connect(t, evil, b.h)
	for name, frame := range map[string][]byte{
		"garbage":      {0x05, 0x01, 0xff, 0xff, 0xff, 0xff},
		"unknown type": {0x01, 0x7e},
		"ack first":    AppendAck(nil, Ack{ID: goldenID}),
		"huge length":  {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01},
		"short id":     appendFrame(nil, TypeOffer, []byte{0x0a, 0x01, 0x00}),
	} {
		if a, err := rawOffer(t, evil, b, frame); err == nil {
			t.Errorf("%s: answered %+v, want a reset stream", name, a)
		}
	}
	m := goldenManifest()
	a, err := rawOffer(t, evil, b, AppendOffer(nil, Offer{ID: goldenID, Manifest: m}))
	if err != nil || a.Status != StatusRejected || !strings.Contains(a.Reason, "id") {
		t.Errorf("offer with a forged ID: %+v %v", a, err)
	}
}

// TestGetRules: the sender serves only transfers it offered to that very peer, inside
// the manifest.
func TestGetRules(t *testing.T) {
	a, b := pair(t, nil, func(c *Config) { c.Policy = AcceptAsk })
	src := filepath.Join(t.TempDir(), "secret.txt")
	writeFile(t, src, "for b only", 0644)
	info := a.send(b, src)
	evil := newHost(t, nil)
	connect(t, evil, a.h)
	for name, g := range map[string]Get{
		"other peer's transfer": {ID: info.ID, File: 0, First: 0, Count: 1},
		"unknown transfer":      {ID: goldenID, File: 0, First: 0, Count: 1},
	} {
		if e := rawGet(t, evil, a, g); e.Code != CodeUnknown {
			t.Errorf("%s: %+v, want CodeUnknown", name, e)
		}
	}
	for name, g := range map[string]Get{
		"file out of range":  {ID: info.ID, File: 7, First: 0, Count: 1},
		"chunk out of range": {ID: info.ID, File: 0, First: 1, Count: 1},
		"count overflow":     {ID: info.ID, File: 0, First: 0, Count: 1<<64 - 1},
	} {
		if e := rawGet(t, b.h, a, g); e.Code != CodeBadRequest {
			t.Errorf("%s: %+v, want CodeBadRequest", name, e)
		}
	}
}

func rawGet(t *testing.T, h host.Host, to *side, g Get) ErrorFrame {
	t.Helper()
	st, err := h.NewStream(context.Background(), to.h.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Write(AppendGet(nil, g))
	typ, p, err := ReadFrame(bufio.NewReader(st))
	if err != nil || typ != TypeError {
		t.Fatalf("GET %+v: frame 0x%02x, %v; want ERROR", g, byte(typ), err)
	}
	e, err := ParseError(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestPlantedSymlink: a symlink in the downloads folder pointing outside cannot be used
// to write there: the incoming folder of the same name is placed beside it.
func TestPlantedSymlink(t *testing.T) {
	a, b := pair(t, nil, nil)
	outside := t.TempDir()
	os.MkdirAll(b.cfg.Downloads, 0700)
	if err := os.Symlink(outside, filepath.Join(b.cfg.Downloads, "evil")); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "evil")
	writeFile(t, filepath.Join(src, "x"), "payload", 0644)
	info := a.send(b, src)
	if _, err := b.wait(info.ID); err != nil {
		t.Fatal(err)
	}
	if tree := listTree(t, outside); len(tree) != 0 {
		t.Fatalf("wrote %v outside the downloads folder through a symlink", tree)
	}
	sameFile(t, filepath.Join(src, "x"), filepath.Join(b.cfg.Downloads, "evil (1)", "x"))
}

// TestPlantedSymlinkInStaging: even the staging folder, replaced by a symlink leading
// outside, is refused by os.Root: the transfer pauses with the error and writes nothing.
func TestPlantedSymlinkInStaging(t *testing.T) {
	a, b := pair(t, nil, nil)
	outside := t.TempDir()
	os.MkdirAll(b.cfg.Downloads, 0700)
	link := filepath.Join(b.cfg.Downloads, partialDir)
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "data.bin")
	writeRandom(t, src, ChunkSize)
	info := a.send(b, src)
	paused := b.waitState(info.ID, StatePaused)
	if !strings.Contains(paused.Error, "cannot write in the downloads folder") {
		t.Errorf("paused with %q", paused.Error)
	}
	if tree := listTree(t, outside); len(tree) != 0 {
		t.Fatalf("wrote %v outside through the staging symlink", tree)
	}
	os.Remove(link)
	b.m.startRunner(b.m.get(info.ID)) // wake it instead of waiting out the backoff
	if _, err := b.wait(info.ID); err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, filepath.Join(b.cfg.Downloads, "data.bin"))
}

// TestMaxSize: an offer over the receiver's limit is rejected, and Send says why.
func TestMaxSize(t *testing.T) {
	a, b := pair(t, nil, func(c *Config) { c.MaxSize = ChunkSize })
	src := filepath.Join(t.TempDir(), "big.bin")
	writeRandom(t, src, ChunkSize+1)
	info, err := a.m.Send(context.Background(), b.h.ID(), []string{src})
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "too large") || info.State != StateRejected {
		t.Fatalf("Send = %s, %v; want rejected: too large", info.State, err)
	}
	if n := len(b.m.List()); n != 0 {
		t.Errorf("the receiver kept %d transfers", n)
	}
}

func TestSpaceCheck(t *testing.T) {
	free := func(string) (int64, error) { return 1000, nil }
	if err := spaceFor("/dl", 1000, free); err != nil {
		t.Errorf("exactly enough space: %v", err)
	}
	if err := spaceFor("/dl", 1001, free); err == nil || !strings.Contains(err.Error(), "not enough free disk space") {
		t.Errorf("one byte short: %v", err)
	}
	unknown := func(string) (int64, error) { return 0, errors.New("no statfs") }
	if err := spaceFor("/dl", 1<<60, unknown); err != nil {
		t.Errorf("unknown free space must not block: %v", err)
	}
	if n, err := freeSpace(t.TempDir()); err != nil || n <= 0 {
		t.Errorf("freeSpace = %d, %v", n, err)
	}
}

// TestNoSpaceRejected: an offer larger than the free space is rejected up front.
func TestNoSpaceRejected(t *testing.T) {
	disk := mountTmpfs(t, "4m")
	a, b := pair(t, nil, func(c *Config) { c.Downloads = filepath.Join(disk, "dl") })
	src := filepath.Join(t.TempDir(), "big.bin")
	writeRandom(t, src, 8<<20)
	_, err := a.m.Send(context.Background(), b.h.ID(), []string{src})
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "not enough free disk space") {
		t.Fatalf("Send = %v, want rejected for lack of space", err)
	}
}

// TestDiskFullPausesAndResumes: the disk fills up mid-transfer; the transfer pauses
// with a clear error, keeps its verified partial data, and finishes once there is room.
func TestDiskFullPausesAndResumes(t *testing.T) {
	disk := mountTmpfs(t, "8m")
	a, b := pair(t, func(c *Config) { c.OpenSource = openSlow(60 * time.Millisecond); c.ChunkSize = 256 << 10 },
		func(c *Config) { c.Downloads = filepath.Join(disk, "dl") })
	src := filepath.Join(t.TempDir(), "six.bin")
	writeRandom(t, src, 6<<20)
	info := a.send(b, src)
	filler := filepath.Join(disk, "filler")
	writeUntilFull(filler)
	paused := b.waitState(info.ID, StatePaused)
	if !strings.Contains(paused.Error, "full") {
		t.Errorf("paused with %q, want a full disk", paused.Error)
	}
	os.Remove(filler)
	if _, err := b.wait(info.ID); err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, filepath.Join(disk, "dl", "six.bin"))
}

// writeUntilFull writes zeros to path until the file system is full.
func writeUntilFull(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			return
		}
	}
}

func TestDownloadsCreatedPrivate(t *testing.T) {
	b := newSide(t, newHost(t, nil), nil)
	fi, err := os.Stat(b.cfg.Downloads)
	if err != nil || fi.Mode().Perm() != 0700 {
		t.Errorf("downloads folder: %v %v, want created 0700", fi.Mode().Perm(), err)
	}
}

func TestParsePolicy(t *testing.T) {
	for _, p := range []Policy{AcceptContacts, AcceptAny, AcceptAsk} {
		if got, err := ParsePolicy(p.String()); err != nil || got != p {
			t.Errorf("ParsePolicy(%q) = %v, %v", p, got, err)
		}
	}
	if _, err := ParsePolicy("everyone"); err == nil {
		t.Error("ParsePolicy accepted an unknown policy")
	}
}
