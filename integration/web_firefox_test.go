package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/bidi"
	"github.com/parley-im/parley/internal/testenv"
	"github.com/parley-im/parley/internal/testnode"
)

// TestWebAppFirefox is the core of TestWebApp in Firefox, driven over WebDriver BiDi:
// two real nodes on loopback, each page in its own user context (its own cookies)
// logs in with the link `parley open --no-browser` prints, sees the other online;
// Ann types a message that shows delivered in her page and arrives in Bob's, and a
// file she picks with the file input arrives in Bob's downloads after he accepts it
// in his page. Screenshots: web-firefox-*.png.
func TestWebAppFirefox(t *testing.T) {
	firefox := findFirefox(t)
	ann := testnode.Start(t, testnode.Options{Name: "Ann", Args: loopbackArgs()})
	annID := ann.Status().PeerID
	bobHome := t.TempDir()
	rememberFreeAPIPort(t, bobHome) // off the default port, which other nodes here may hold
	bob := testnode.Start(t, testnode.Options{Name: "Bob", Home: bobHome, Args: append(loopbackArgs(), "--peer", tcpAddr(t, ann.Status().Addrs))})
	bobID := bob.Status().PeerID
	shots := newScreenshots(t)

	pages := startFirefox(t, firefox)
	annPage := pages.open("Ann")
	bobPage := pages.open("Bob")

	annPage.navigate(apiURL(t, ann))
	annPage.waitFor("the login note", `!document.getElementById("login-needed").hidden`)
	shots.takeFirefox(annPage, "01-ann-not-logged-in")
	annPage.login(ann)
	bobPage.login(bob)
	shots.takeFirefox(annPage, "02-ann-logged-in")

	annPage.waitFor("Bob online on Ann's page", fmt.Sprintf(`!!document.querySelector('#nearby li[data-peer=%q][data-presence="online"]')`, bobID))
	bobPage.waitFor("Ann online on Bob's page", fmt.Sprintf(`!!document.querySelector('#nearby li[data-peer=%q][data-presence="online"]')`, annID))
	shots.takeFirefox(annPage, "03-ann-sees-bob-online")

	const text = "Hello Bob, this came from Firefox"
	annPage.click(fmt.Sprintf(`#nearby li[data-peer=%q] button.conversation`, bobID))
	annPage.waitFor("the composer", `!document.getElementById("composer-text").disabled && document.getElementById("composer-text").checkVisibility()`)
	annPage.click(`#composer-text`)
	annPage.typeText(text + bidi.Enter)
	annPage.waitFor("Ann's message delivered", `!!document.querySelector('#messages li.out[data-state="delivered"], #messages li.out[data-state="read"]')`)
	shots.takeFirefox(annPage, "04-ann-sent-message")

	bobPage.waitFor("an unread count on Bob's page", fmt.Sprintf(`!!document.querySelector('#nearby li[data-peer=%q] .unread')`, annID))
	bobPage.click(fmt.Sprintf(`#nearby li[data-peer=%q] button.conversation`, annID))
	bobPage.waitFor("Ann's message on Bob's page", fmt.Sprintf(`[...document.querySelectorAll('#messages li.in .text')].some(p => p.textContent === %q)`, text))
	shots.takeFirefox(bobPage, "05-bob-got-message")

	checkFirefoxRestart(t, ann, bob, bobPage, bobID, shots)
	checkFirefoxFile(t, annPage, bobPage, bob, shots)
	checkFirefoxStatus(t, annPage, bobPage, annID, shots)
	checkFirefoxSearchAndSafetyNumber(t, annPage, shots)
	checkFirefoxSignOut(t, ann, bob, annPage, bobPage, shots)
}

// checkFirefoxRestart: Bob's node restarts with the same home while his page shows his
// chat with Ann; the page reconnects by itself, still logged in, and shows Ann's message
// sent while his node was down.
func checkFirefoxRestart(t *testing.T, ann, bob *testnode.Node, bobPage *firefoxPage, bobID string, shots *screenshots) {
	t.Helper()
	origin := apiURL(t, bob)
	bob.Stop()
	bobPage.waitFor("the page noticing", `document.getElementById("conn-state").dataset.state === "reconnecting"`)
	const text = "sent while your node restarted"
	if out := ann.CLI("send", bobID, text); !strings.Contains(out, "queued") {
		t.Fatalf("Ann's send to Bob's stopped node printed %q, want queued", out)
	}
	bob.Restart()
	if got := apiURL(t, bob); got != origin {
		t.Fatalf("after the restart Bob's web app is at %s, was %s", got, origin)
	}
	bobPage.waitFor("the page reconnected, still logged in", `document.getElementById("conn-state").dataset.state === "open" &&
		!document.getElementById("app").hidden && document.getElementById("login-needed").hidden`)
	bobPage.waitFor("the message sent meanwhile", fmt.Sprintf(`[...document.querySelectorAll('#messages li.in .text')].some(p => p.textContent === %q)`, text))
	shots.takeFirefox(bobPage, "06-bob-reconnected-after-restart")
}

// checkFirefoxSignOut: `parley web logout` signs Bob's open page out; Sign out signs
// Ann's out, and a new link opened in that tab logs it in again.
func checkFirefoxSignOut(t *testing.T, ann, bob *testnode.Node, annPage, bobPage *firefoxPage, shots *screenshots) {
	t.Helper()
	if out := bob.CLI("web", "logout"); !strings.Contains(out, "ended 1 web session") {
		t.Errorf("parley web logout printed %q, want ended 1 web session", out)
	}
	bobPage.waitFor("Bob's page signed out by parley web logout", `!document.getElementById("login-needed").hidden &&
		document.getElementById("login-ended").textContent.startsWith("Your session has ended")`)
	annPage.click("#signout-btn")
	annPage.waitFor("the login note after Sign out", `!document.getElementById("login-needed").hidden &&
		document.getElementById("login-ended").textContent === "You signed out." && localStorage.getItem("parley.session") === null`)
	shots.takeFirefox(annPage, "13-ann-signed-out")
	annPage.login(ann) // the same tab: only the fragment changes
}

// checkFirefoxStatus: Bob adds Ann to his contacts; Ann picks "busy", types a status
// and clicks Set status, and Bob's contact list shows both.
func checkFirefoxStatus(t *testing.T, annPage, bobPage *firefoxPage, annID string, shots *screenshots) {
	t.Helper()
	bobPage.click(fmt.Sprintf(`#nearby li[data-peer=%q] button.add-contact`, annID))
	bobPage.waitFor("Ann in Bob's contacts", fmt.Sprintf(`!!document.querySelector('#contacts li[data-peer=%q]')`, annID))
	// A select's drop-down is not part of the page, so pick as its change event would.
	annPage.eval(`(() => { const s = document.getElementById("presence"); s.value = "busy";
		s.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`)
	annPage.waitFor("the answer to Ann picking busy", `document.getElementById("toast").textContent === "Status set."`)
	annPage.click(`#status-text`)
	annPage.typeText("in a meeting until 3")
	annPage.click(`#presence-form button[type="submit"]`)
	bobPage.waitFor("Ann busy in Bob's contacts", fmt.Sprintf(
		`(() => { const li = document.querySelector('#contacts li[data-peer=%q][data-presence="busy"]');
			return !!li && li.textContent.includes("in a meeting until 3"); })()`, annID))
	shots.takeFirefox(bobPage, "10-bob-sees-ann-busy")
}

// checkFirefoxSearchAndSafetyNumber: a history search typed in Ann's page (Enter
// submits) finds her message; the safety-number dialog opens and closes.
func checkFirefoxSearchAndSafetyNumber(t *testing.T, annPage *firefoxPage, shots *screenshots) {
	t.Helper()
	annPage.click(`#search`)
	annPage.typeText("Firefox" + bidi.Enter)
	annPage.waitFor("the search result", `[...document.querySelectorAll('#search-list .text')].some(p => p.textContent.includes("came from Firefox"))`)
	shots.takeFirefox(annPage, "11-ann-search")
	annPage.click(`#search-close`)
	annPage.click(`#safety-btn`)
	annPage.waitFor("the safety number or a note", `(() => {
		const n = document.getElementById("safety-number").textContent, b = document.getElementById("safety-body").textContent;
		return document.getElementById("safety-dialog").open
			&& (/^[0-9 ]{60,}$/.test(n) || b.includes("cannot show safety numbers yet")); })()`)
	shots.takeFirefox(annPage, "12-ann-safety-number")
	annPage.click(`#safety-close`)
	annPage.waitFor("the dialog closed", `!document.getElementById("safety-dialog").open`)
}

// checkFirefoxFile: Ann picks a file with the file input, Bob accepts the offer in
// his page, both pages show a full progress bar, and Bob's copy is Ann's bytes.
func checkFirefoxFile(t *testing.T, annPage, bobPage *firefoxPage, bob *testnode.Node, shots *screenshots) {
	t.Helper()
	name := "firefox-survey.bin"
	data := make([]byte, webFileSize)
	rand.Read(data)
	upload := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(upload, data, 0o600); err != nil {
		t.Fatal(err)
	}
	annPage.setFiles(`#file-input`, upload)
	bobPage.waitFor("the offer on Bob's page", `!!document.querySelector('#transfers li[data-state="pending"] button.accept')`)
	shots.takeFirefox(bobPage, "06-bob-offer")
	annPage.waitFor("Ann's transfer waiting", `!!document.querySelector('#transfers li.transfer[data-state="waiting"]')`)
	shots.takeFirefox(annPage, "07-ann-waiting")
	bobPage.click(`#transfers li[data-state="pending"] button.accept`)

	const complete = `(() => { const p = document.querySelector('#transfers li[data-state="completed"] progress');
		return !!p && p.max > 1 && p.value === p.max; })()`
	bobPage.waitFor("a full progress bar on Bob's page", complete)
	shots.takeFirefox(bobPage, "08-bob-file-complete")
	annPage.waitFor("a full progress bar on Ann's page", complete)
	shots.takeFirefox(annPage, "09-ann-file-complete")

	got, err := os.ReadFile(filepath.Join(bob.Home, "downloads", name))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Bob's copy of %s: %d bytes, err %v; want the %d bytes Ann picked", name, len(got), err, len(data))
	}
}

// findFirefox returns Debian's firefox-esr (or another Firefox), or skips the test
// with a loud reason, or fails it under CI, which must run it.
func findFirefox(t *testing.T) string {
	t.Helper()
	return testenv.Tool(t, "the web app's Firefox test needs firefox-esr", "firefox-esr", "firefox")
}

// firefoxPages is one headless Firefox for the test; it logs each page's script
// errors and console messages under the page's name, and stops at cleanup.
type firefoxPages struct {
	t       *testing.T
	browser *bidi.Browser

	mu    sync.Mutex
	names map[string]string // BiDi context id → page name
}

func startFirefox(t *testing.T, path string) *firefoxPages {
	t.Helper()
	fp := &firefoxPages{t: t, names: map[string]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), webStepTimeout)
	defer cancel()
	browser, err := bidi.Start(ctx, bidi.Options{Path: path, OnLog: fp.log})
	if err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := browser.Close(); err != nil {
			t.Errorf("stop firefox: %v", err)
		}
	})
	fp.browser = browser
	return fp
}

// log reports a page's log entry in the test log.
func (fp *firefoxPages) log(e bidi.LogEntry) {
	fp.mu.Lock()
	name := fp.names[e.Context]
	fp.mu.Unlock()
	if name == "" {
		return // Firefox's own pages
	}
	what := "console " + e.Level
	if e.Type == "javascript" {
		what = "script error"
	}
	fp.t.Logf("%s's page: %s at %s:%d: %s", name, what, e.URL, e.Line, e.Text)
}

// open makes a tab in a user context of its own (its own cookies).
func (fp *firefoxPages) open(name string) *firefoxPage {
	fp.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), webStepTimeout)
	defer cancel()
	tab, err := fp.browser.NewTab(ctx, 1400, 900)
	if err != nil {
		fp.t.Fatalf("open %s's tab: %v", name, err)
	}
	fp.mu.Lock()
	fp.names[tab.ID] = name
	fp.mu.Unlock()
	return &firefoxPage{t: fp.t, name: name, tab: tab}
}

// firefoxPage is one tab, named after whose node it shows.
type firefoxPage struct {
	t    *testing.T
	name string
	tab  *bidi.Tab
}

// firefoxStep is the context for one browser step.
func firefoxStep() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), webStepTimeout)
}

func (p *firefoxPage) navigate(url string) {
	p.t.Helper()
	ctx, cancel := firefoxStep()
	defer cancel()
	if err := p.tab.Navigate(ctx, url); err != nil {
		p.t.Fatalf("%s's page: %v", p.name, err)
	}
}

// login opens the link `parley open --no-browser` prints and waits for the app.
func (p *firefoxPage) login(n *testnode.Node) {
	p.t.Helper()
	link := strings.TrimSpace(n.CLI("open", "--no-browser"))
	if !strings.Contains(link, "/#login=") {
		p.t.Fatalf("parley open printed %q, want a login link", link)
	}
	p.navigate(link)
	p.waitFor("the app after login", `!document.getElementById("app").hidden`)
	p.waitFor("the code gone from the address, the token kept in the origin's storage and no cookie", loggedInWell)
}

// waitFor polls the JavaScript expression every 100 ms until it is true. A command
// that fails (the page is between documents) is tried again; a script that throws
// fails the test at once.
func (p *firefoxPage) waitFor(what, expr string) {
	p.t.Helper()
	ctx, cancel := firefoxStep()
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		v, err := p.tab.Evaluate(ctx, expr)
		var scriptErr *bidi.ScriptError
		switch {
		case err == nil && v.Bool():
			return
		case errors.As(err, &scriptErr):
			p.fail("waiting for "+what, err)
		case err != nil:
			last = err
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			p.fail("waiting for "+what, fmt.Errorf("not true after %v (last error: %v): %s", webStepTimeout, last, expr))
		}
	}
}

// eval runs a JavaScript expression in the page and returns its value as text.
func (p *firefoxPage) eval(expr string) string {
	p.t.Helper()
	ctx, cancel := firefoxStep()
	defer cancel()
	v, err := p.tab.Evaluate(ctx, expr)
	if err != nil {
		p.fail(expr, err)
	}
	return v.String()
}

// fail ends the test with what failed and the page's body.
func (p *firefoxPage) fail(what string, err error) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	html, herr := p.tab.Evaluate(ctx, `document.body.outerHTML`)
	if herr != nil {
		p.t.Fatalf("%s's page: %s: %v\n(no page HTML: %v)", p.name, what, err, herr)
	}
	p.t.Fatalf("%s's page: %s: %v\npage:\n%s", p.name, what, err, html)
}

// element finds the element matching the CSS selector, scrolled into view.
func (p *firefoxPage) element(ctx context.Context, css string) bidi.Value {
	p.t.Helper()
	el, err := p.tab.Element(ctx, fmt.Sprintf(`document.querySelector(%q)`, css))
	if err != nil {
		p.fail("finding "+css, err)
	}
	return el
}

// click clicks the element with the mouse.
func (p *firefoxPage) click(css string) {
	p.t.Helper()
	ctx, cancel := firefoxStep()
	defer cancel()
	if err := p.tab.Click(ctx, p.element(ctx, css)); err != nil {
		p.fail("clicking "+css, err)
	}
}

// typeText types into the focused element with the keyboard.
func (p *firefoxPage) typeText(text string) {
	p.t.Helper()
	ctx, cancel := firefoxStep()
	defer cancel()
	if err := p.tab.Type(ctx, text); err != nil {
		p.fail("typing", err)
	}
}

// setFiles picks a file in the file input, as the file picker would.
func (p *firefoxPage) setFiles(css, path string) {
	p.t.Helper()
	ctx, cancel := firefoxStep()
	defer cancel()
	if err := p.tab.SetFiles(ctx, p.element(ctx, css), []string{path}); err != nil {
		p.fail("picking "+path+" in "+css, err)
	}
}

// takeFirefox saves a screenshot of a Firefox page as web-firefox-NAME.png.
func (s *screenshots) takeFirefox(p *firefoxPage, name string) {
	s.t.Helper()
	ctx, cancel := firefoxStep()
	defer cancel()
	png, err := p.tab.Screenshot(ctx)
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(s.dir, "web-firefox-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("screenshot: %s", path)
}
