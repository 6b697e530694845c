package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/parley-im/parley/internal/testnode"
)

// Bounds on how long a broken web test may hang; none of them asserts speed.
const (
	webStepTimeout = 2 * time.Minute // one browser step, including waiting for the node
	webFileSize    = 3<<20 + 12345   // a few chunks, so the progress bar moves
)

// TestWebApp drives the web app of two real nodes (on loopback, connected with --peer)
// in headless Chromium, one isolated browser profile per node: each logs in with the
// link `parley open --no-browser` prints, sees the other online, they chat, and a
// file picked in Ann's page arrives in Bob's downloads after Bob accepts the offer in
// his page. Screenshots of every step go to $PARLEY_SCREENSHOTS or bench/out/screenshots.
func TestWebApp(t *testing.T) {
	chromium := findChromium(t)
	ann := testnode.Start(t, testnode.Options{Name: "Ann", Args: loopbackArgs()})
	annStatus := ann.Status()
	bob := testnode.Start(t, testnode.Options{Name: "Bob", Args: append(loopbackArgs(), "--peer", tcpAddr(t, annStatus.Addrs))})
	bobID := bob.Status().PeerID
	shots := newScreenshots(t)

	browser := startBrowser(t, chromium)
	annPage := newPage(t, browser, "Ann")
	bobPage := newPage(t, browser, "Bob")

	// Nothing works without the login link.
	annPage.do(chromedp.Navigate(apiURL(t, ann)))
	annPage.waitFor("the login note", `!document.getElementById("login-needed").hidden`)
	shots.take(annPage, "01-ann-not-logged-in")

	annPage.login(ann)
	bobPage.login(bob)
	shots.take(annPage, "02-ann-logged-in")

	annPage.waitFor("Bob online on Ann's page", fmt.Sprintf(`!!document.querySelector('#nearby li[data-peer=%q][data-presence="online"]')`, bobID))
	bobPage.waitFor("Ann online on Bob's page", fmt.Sprintf(`!!document.querySelector('#nearby li[data-peer=%q][data-presence="online"]')`, annStatus.PeerID))
	shots.take(annPage, "03-ann-sees-bob-online")

	const text = "Hello Bob, this came from a browser"
	annPage.do(
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#nearby li[data-peer=%q] button.conversation`, bobID))),
		chromedp.WaitVisible(chromedp.ID("composer-text")),
		chromedp.SendKeys(chromedp.ID("composer-text"), text+kb.Enter),
	)
	annPage.waitFor("Ann's message delivered", `!!document.querySelector('#messages li.out[data-state="delivered"], #messages li.out[data-state="read"]')`)
	shots.take(annPage, "04-ann-sent-message")

	bobPage.waitFor("an unread count on Bob's page", fmt.Sprintf(`!!document.querySelector('#nearby li[data-peer=%q] .unread')`, annStatus.PeerID))
	shots.take(bobPage, "05-bob-unread")
	bobPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#nearby li[data-peer=%q] button.conversation`, annStatus.PeerID))))
	bobPage.waitFor("Ann's message on Bob's page", fmt.Sprintf(`[...document.querySelectorAll('#messages li.in .text')].some(p => p.textContent === %q)`, text))
	shots.take(bobPage, "06-bob-got-message")
	annPage.waitFor("Ann's message shown read", `!!document.querySelector('#messages li.out[data-state="read"]')`)
	shots.take(annPage, "07-ann-sees-read")

	name := "survey.bin"
	data := make([]byte, webFileSize)
	rand.Read(data)
	upload := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(upload, data, 0o600); err != nil {
		t.Fatal(err)
	}
	annPage.do(chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{upload}))
	// Bob's node takes files from contacts only (the default), so Bob accepts in his page.
	bobPage.waitFor("the offer on Bob's page", `!!document.querySelector('#transfers li[data-state="pending"] button.accept')`)
	shots.take(bobPage, "08-bob-offer")
	annPage.waitFor("Ann's transfer waiting", `!!document.querySelector('#transfers li.transfer[data-state="waiting"]')`)
	shots.take(annPage, "09-ann-waiting")
	bobPage.do(chromedp.Click(chromedp.CSS(`#transfers li[data-state="pending"] button.accept`)))

	const complete = `(() => { const p = document.querySelector('#transfers li[data-state="completed"] progress');
		return !!p && p.max > 1 && p.value === p.max; })()`
	bobPage.waitFor("a full progress bar on Bob's page", complete)
	shots.take(bobPage, "10-bob-file-complete")
	annPage.waitFor("a full progress bar on Ann's page", complete)
	shots.take(annPage, "11-ann-file-complete")

	got, err := os.ReadFile(filepath.Join(bob.Home, "downloads", name))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Bob's copy of %s: %d bytes, err %v; want the %d bytes Ann picked", name, len(got), err, len(data))
	}

	checkContactsAndStatus(t, annPage, bobPage, annStatus.PeerID, shots)
	checkSearchAndSafetyNumber(t, annPage, shots)
}

// checkContactsAndStatus: Bob adds Ann to his contacts, Ann sets her status in her
// page, and Bob's contact list shows it live.
func checkContactsAndStatus(t *testing.T, annPage, bobPage *page, annID string, shots *screenshots) {
	t.Helper()
	bobPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#nearby li[data-peer=%q] button.add-contact`, annID))))
	bobPage.waitFor("Ann in Bob's contacts", fmt.Sprintf(`!!document.querySelector('#contacts li[data-peer=%q]')`, annID))
	annPage.do(
		chromedp.SetValue(chromedp.ID("presence"), "busy"),
		chromedp.SetValue(chromedp.ID("status-text"), "in a meeting until 3"),
		chromedp.Click(chromedp.CSS(`#presence-form button[type="submit"]`)),
	)
	bobPage.waitFor("Ann busy in Bob's contacts", fmt.Sprintf(
		`(() => { const li = document.querySelector('#contacts li[data-peer=%q][data-presence="busy"]');
			return !!li && li.textContent.includes("in a meeting until 3"); })()`, annID))
	shots.take(bobPage, "12-bob-sees-ann-busy")
}

// checkSearchAndSafetyNumber: a history search in Ann's page finds her message; the
// safety-number dialog shows the number, or says the node cannot show one yet.
func checkSearchAndSafetyNumber(t *testing.T, annPage *page, shots *screenshots) {
	t.Helper()
	annPage.do(
		chromedp.SetValue(chromedp.ID("search"), "browser"),
		chromedp.Click(chromedp.CSS(`#search-form button[type="submit"]`)),
	)
	annPage.waitFor("the search result", `[...document.querySelectorAll('#search-list .text')].some(p => p.textContent.includes("came from a browser"))`)
	shots.take(annPage, "13-ann-search")
	annPage.do(
		chromedp.Click(chromedp.ID("search-close")),
		chromedp.Click(chromedp.ID("safety-btn")),
	)
	annPage.waitFor("the safety number or a note", `(() => {
		const n = document.getElementById("safety-number").textContent, b = document.getElementById("safety-body").textContent;
		return /^[0-9 ]{60,}$/.test(n) || b.includes("cannot show safety numbers yet"); })()`)
	shots.take(annPage, "14-ann-safety-number")
	annPage.do(chromedp.Click(chromedp.ID("safety-close")))
}

// findChromium returns Debian's chromium (or another Chrome), or skips the test with
// a loud reason, or fails it under CI, which must run it.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const why = "no chromium on PATH: the web app's browser test needs it (scripts/install-deps.sh installs it)"
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; CI must run the browser test, not skip it", why)
	}
	t.Skip("SKIPPING: " + why)
	return ""
}

// startBrowser starts one headless Chromium for the test and stops it at cleanup.
func startBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests run as root
		chromedp.WindowSize(1400, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser); err != nil { // starts it, with no deadline on its life
		t.Fatalf("start %s: %v", path, err)
	}
	return browser
}

// page is one tab in a browser profile of its own (its own cookies).
type page struct {
	t    *testing.T
	name string
	ctx  context.Context
}

func newPage(t *testing.T, browser context.Context, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext(),
		chromedp.WithListener(func(ev any) {
			if e, ok := ev.(*runtime.EventExceptionThrown); ok {
				d := e.ExceptionDetails
				desc := d.Text
				if d.Exception != nil {
					desc += " " + d.Exception.Description
				}
				t.Logf("%s's page: script error at %s:%d: %s", name, d.URL, d.LineNumber+1, desc)
			}
		}))
	t.Cleanup(cancel)
	p := &page{t: t, name: name, ctx: ctx}
	// The first Run opens the tab and binds its life to its context: no deadline here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open %s's tab: %v", name, err)
	}
	return p
}

// do runs browser actions, failing the test if they fail or take longer than a step may.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, webStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s's page: %v", p.name, err)
	}
}

// waitFor waits until the JavaScript expression is true in the page.
func (p *page) waitFor(what, expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, webStepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingTimeout(webStepTimeout), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		html, _ := chromedp.Run(p.ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		p.t.Fatalf("%s's page: waiting for %s: %v\npage:\n%s", p.name, what, err, html)
	}
}

// login opens the link `parley open --no-browser` prints and waits for the app.
func (p *page) login(n *testnode.Node) {
	p.t.Helper()
	link := strings.TrimSpace(n.CLI("open", "--no-browser"))
	if !strings.Contains(link, "/login?code=") {
		p.t.Fatalf("parley open printed %q, want a login link", link)
	}
	p.do(chromedp.Navigate(link))
	p.waitFor("the app after login", `!document.getElementById("app").hidden`)
}

// apiURL is the root of the node's web app, without a login.
func apiURL(t *testing.T, n *testnode.Node) string {
	t.Helper()
	addr, err := os.ReadFile(filepath.Join(n.Home, "api.addr"))
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + strings.TrimSpace(string(addr)) + "/"
}

// screenshots saves PNGs of pages to one folder and logs their paths.
type screenshots struct {
	t   *testing.T
	dir string
}

func newScreenshots(t *testing.T) *screenshots {
	t.Helper()
	dir := os.Getenv("PARLEY_SCREENSHOTS")
	if dir == "" {
		root, err := filepath.Abs("..")
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "bench", "out", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	return &screenshots{t: t, dir: dir}
}

func (s *screenshots) take(p *page, name string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, webStepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(s.dir, "web-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("screenshot: %s", path)
}
