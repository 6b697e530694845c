package bidi

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/testenv"
)

// testPage has what the client drives: a button, a text box, a file input, and a
// script error.
const testPage = `<!doctype html><body>
<button id="b" onclick="this.dataset.clicks = (+(this.dataset.clicks || 0) + 1)">click</button>
<textarea id="t" onkeydown="if (event.key === 'Enter') this.dataset.entered = this.value"></textarea>
<input id="f" type="file" onchange="this.dataset.picked = this.files[0].name + ':' + this.files[0].size">
<script>console.error("hello from the page"); setTimeout(() => { throw new Error("boom") });</script>`

// TestFirefox drives a real Firefox through every command the client has.
func TestFirefox(t *testing.T) {
	path := firefoxPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logs := make(chan LogEntry, 16)
	b, err := Start(ctx, Options{Path: path, OnLog: func(e LogEntry) {
		select {
		case logs <- e:
		default: // the read loop must never block
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tab, err := b.NewTab(ctx, 800, 600)
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.Navigate(ctx, "data:text/html,"+url.PathEscape(testPage)); err != nil {
		t.Fatal(err)
	}
	checkLogs(t, ctx, logs, tab.ID)
	checkInput(t, ctx, tab)
	if _, err := tab.Evaluate(ctx, `nothing.here`); !errors.As(err, new(*ScriptError)) {
		t.Errorf("evaluating a bad expression: %v, want a *ScriptError", err)
	}
	if png, err := tab.Screenshot(ctx); err != nil || len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Errorf("screenshot: %d bytes, %v", len(png), err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.profile); !os.IsNotExist(err) {
		t.Errorf("profile %s still there after Close: %v", b.profile, err)
	}
	if _, err := tab.Evaluate(ctx, `1`); err == nil {
		t.Error("a command after Close worked")
	}
}

// checkLogs waits for the page's console.error and its uncaught error.
func checkLogs(t *testing.T, ctx context.Context, logs chan LogEntry, tab string) {
	t.Helper()
	var console, script bool
	for !console || !script {
		select {
		case e := <-logs:
			console = console || e.Type == "console" && e.Level == "error" && e.Text == "hello from the page" && e.Context == tab
			script = script || e.Type == "javascript" && e.Context == tab
		case <-ctx.Done():
			t.Fatalf("log entries: console.error %v, script error %v", console, script)
		}
	}
}

// checkInput clicks, types and picks a file, and checks the page saw each.
func checkInput(t *testing.T, ctx context.Context, tab *Tab) {
	t.Helper()
	button, err := tab.Element(ctx, `document.getElementById("b")`)
	if err != nil {
		t.Fatal(err)
	}
	textarea, err := tab.Element(ctx, `document.getElementById("t")`)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "pick.txt")
	os.WriteFile(file, []byte("12345"), 0o600)
	input, err := tab.Element(ctx, `document.getElementById("f")`)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{tab.Click(ctx, button), tab.Click(ctx, textarea), tab.Type(ctx, "hi there"+Enter),
		tab.SetFiles(ctx, input, []string{file})} {
		if err != nil {
			t.Fatal(err)
		}
	}
	v, err := tab.Evaluate(ctx, `[b.dataset.clicks, t.dataset.entered, f.dataset.picked].join("|")`)
	if err != nil || v.String() != "1|hi there|pick.txt:5" {
		t.Errorf("the page saw %q (%v), want a click, the typed text and the picked file", v, err)
	}
	if _, err := tab.Element(ctx, `document.getElementById("missing")`); !errors.Is(err, errNoSharedID) {
		t.Errorf("a missing element: %v", err)
	}
}

// firefoxPath finds Firefox, or skips the test, or fails it under CI, which must run it.
func firefoxPath(t *testing.T) string {
	t.Helper()
	return testenv.Tool(t, "needs firefox-esr", "firefox-esr", "firefox")
}
