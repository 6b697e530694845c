package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
)

// TestTransfersShownByName (issue 13 item 6): `parley transfers` names each transfer,
// counts a folder of 3 files as 3 files, and a transfer paused because its receiver is
// away has a one-line note, not the dial error.
func TestTransfersShownByName(t *testing.T) {
	ann, bob := pair(t)
	root := filepath.Join(t.TempDir(), "project")
	for _, f := range []string{"a.txt", "sub/b.txt", "sub/c.txt"} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 1000), 0644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	sends := make(chan int, 2)
	defer func() {
		cancel()
		<-sends
		<-sends
	}()
	sendFile := func(out *syncBuffer, path string) {
		sends <- run(ctx, []string{"parley", "--home", ann.home, "send-file", bob.st.PeerID, path}, nil, out, &syncBuffer{})
	}
	var first, second syncBuffer
	go sendFile(&first, root)
	waitOutput(t, &first, "waiting for bob to accept project")

	r := bob.parley(t, nil, "transfers")
	t.Logf("bob's transfers:\n%s", r.stdout)
	row := regexp.MustCompile(`(?m)^[0-9a-f]{8}\s+project\s+in\s+ann\s+pending\s+0 B / 2\.9 KiB\s+3\s`)
	if r.code != 0 || !strings.Contains(r.stdout, "NAME") || !row.MatchString(r.stdout) {
		t.Errorf("bob's transfers should list `project`, 3 files:\n%s", r)
	}

	bob.stop()
	report := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(report, make([]byte, 3<<20), 0644); err != nil {
		t.Fatal(err)
	}
	go sendFile(&second, report)
	const note = "bob is offline; resumes when they are back"
	waitOutput(t, &second, "report.pdf → bob: 0 B of 3.0 MiB (paused): "+note)
	r = ann.parley(t, nil, "transfers")
	t.Logf("ann's transfers:\n%s\nsend-file:\n%s", r.stdout, second.String())
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 || !strings.Contains(r.stdout, "report.pdf") {
		t.Fatalf("ann's transfers: want a header and two one-line rows:\n%s", r)
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, "paused") && !strings.HasSuffix(l, note) {
			t.Errorf("a paused row's note is not %q:\n%s", note, l)
		}
	}
}

// TestProgressLines (issue 13 item 6): progress lines and the bar are labelled by the
// name, and rates are in the units of sizes.
func TestProgressLines(t *testing.T) {
	tr := api.Transfer{ID: "2561ab3f00112233445566778899aabb", Name: "report.pdf", Direction: "out", PeerName: "Bob",
		State: api.TransferTransferring, TotalBytes: 3 << 20, DoneBytes: 1 << 20, Rate: 2 << 20}
	if got, want := progressLine(tr), "report.pdf → Bob: 1.0 MiB of 3.0 MiB (transferring) 2.0 MiB/s, ETA 1s"; got != want {
		t.Errorf("progress line\n got %q\nwant %q", got, want)
	}
	tr.State, tr.DoneBytes = api.TransferWaiting, 0
	if got, want := progressLine(tr), "waiting for Bob to accept report.pdf"; got != want {
		t.Errorf("waiting line\n got %q\nwant %q", got, want)
	}
	var buf bytes.Buffer
	b := &barProgress{w: &buf}
	b.update(tr)
	tr.State, tr.DoneBytes = api.TransferTransferring, 1<<20
	b.update(tr)
	time.Sleep(150 * time.Millisecond) // past the bar's throttle
	tr.DoneBytes = 2 << 20
	b.update(tr)
	b.done(tr)
	out := buf.String()
	if !strings.Contains(out, "waiting for Bob to accept report.pdf\n") || !strings.Contains(out, "report.pdf → Bob") ||
		!strings.Contains(out, "MiB") || strings.Contains(out, " MB") {
		t.Errorf("bar output should name report.pdf and count in MiB:\n%q", out)
	}
}
