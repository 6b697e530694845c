package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testenv"
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
// his page; at the end they sign out (checkSignOut). Screenshots of every step go to
// $PARLEY_SCREENSHOTS or bench/out/screenshots.
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
	checkHiddenTabNotifies(t, annPage, bobPage, bob, annStatus.PeerID, shots)
	checkKeyboardOnly(t, annPage, bobPage, annStatus.PeerID)
	checkDragAndDrop(t, annPage, bobPage, bob, shots)
	checkAccessibleNames(t, bobPage)
	checkAccessibleNames(t, annPage)
	checkSignOut(t, browser, ann, bob, annPage, bobPage, shots)
}

// TestWebAppSurvivesRestart: Ann's node restarts with the same home while her page is
// open. The node comes back on the same port (remembered in its home) and keeps her
// session, so the open tab reconnects by itself, with no new login, catches up on the
// message Bob sent while the node was down, and shows the ones that follow; a new tab
// of the same browser is logged in at once.
func TestWebAppSurvivesRestart(t *testing.T) {
	chromium := findChromium(t)
	bob := testnode.Start(t, testnode.Options{Name: "Bob", Args: loopbackArgs()})
	bobID := bob.Status().PeerID
	home := t.TempDir()
	rememberFreeAPIPort(t, home)
	// Ann dials Bob (--peer), so she finds him again after her restart.
	ann := testnode.Start(t, testnode.Options{Name: "Ann", Home: home, Args: append(loopbackArgs(), "--peer", tcpAddr(t, bob.Status().Addrs))})
	annID := ann.Status().PeerID
	shots := newScreenshots(t)
	annPage := newPage(t, startBrowser(t, chromium), "Ann")
	annPage.login(ann)
	origin := apiURL(t, ann)

	shown := func(text string) string {
		return fmt.Sprintf(`[...document.querySelectorAll('#messages li.in .text')].some(p => p.textContent === %q)`, text)
	}
	annPage.waitFor("Bob online", fmt.Sprintf(`!!document.querySelector('#nearby li[data-peer=%q][data-presence="online"]')`, bobID))
	annPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#nearby li[data-peer=%q] button.conversation`, bobID))))
	bob.CLI("send", annID, "before the restart")
	annPage.waitFor("Bob's first message", shown("before the restart"))

	ann.Stop()
	annPage.waitFor("the page noticing", `document.getElementById("conn-state").dataset.state === "reconnecting"`)
	shots.take(annPage, "40-ann-node-down")
	if out := bob.CLI("send", annID, "while your node was down"); !strings.Contains(out, "queued") {
		t.Fatalf("Bob's send to a stopped node printed %q, want queued", out)
	}
	ann.Restart()
	if got := apiURL(t, ann); got != origin {
		t.Fatalf("after the restart the web app is at %s, was %s: an open tab cannot find it", got, origin)
	}
	annPage.waitFor("the page reconnected, still logged in", `document.getElementById("conn-state").dataset.state === "open" &&
		!document.getElementById("app").hidden && document.getElementById("login-needed").hidden`)
	annPage.waitFor("the message sent while the node was down", shown("while your node was down"))
	bob.CLI("send", annID, "after the restart")
	annPage.waitFor("a message after the restart", shown("after the restart"))
	shots.take(annPage, "41-ann-reconnected-after-restart")

	annPage.waitFor("one day separator, Today, first", `(() => { const s = document.querySelectorAll("#messages li.separator.day");
		return s.length === 1 && s[0].getAttribute("aria-label") === "Today" && document.getElementById("messages").firstElementChild === s[0]; })()`)

	tab := annPage.newTab("Ann's new tab")
	tab.do(chromedp.Navigate(origin))
	tab.waitFor("the app in a new tab, with no login", `!document.getElementById("app").hidden && document.getElementById("conn-state").dataset.state === "open"`)

	// Unread while no tab shows the chat: opened, it starts at a "New messages" marker
	// above the first of them, which are grouped under one name.
	annPage.do(chromedp.Navigate("about:blank"))
	bob.CLI("send", annID, "unread one")
	bob.CLI("send", annID, "unread two")
	tab.waitFor("two unread from Bob", fmt.Sprintf(`document.querySelector('#nearby li[data-peer=%q] .unread')?.textContent === "2"`, bobID))
	tab.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#nearby li[data-peer=%q] button.conversation`, bobID))))
	tab.waitFor("the unread marker above the first unread, the second grouped", `(() => {
		const m = document.querySelector("#messages li.unread-marker"), next = m && m.nextElementSibling;
		return !!next && next.querySelector(".text").textContent === "unread one" && !next.classList.contains("grouped")
			&& next.nextElementSibling.classList.contains("grouped") && !document.getElementById("jump-unread").hidden; })()`)
	shots.take(tab, "42-unread-marker-and-groups")
}

// rememberFreeAPIPort writes a free port to home's api.port, which `parley up` tries
// first: the test's node stays off the default port, which other tests' nodes and a
// real node on this machine may use.
func rememberFreeAPIPort(t *testing.T, home string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := os.WriteFile(filepath.Join(home, "api.port"), []byte(fmt.Sprintln(port)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkDragAndDrop: a file dragged from the desktop onto Ann's chat with Bob is sent;
// Bob has Ann among his contacts now, so his node takes it without asking.
func checkDragAndDrop(t *testing.T, annPage, bobPage *page, bob *testnode.Node, shots *screenshots) {
	t.Helper()
	const name = "dropped.bin"
	data := make([]byte, 1<<20+7)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var at struct{ X, Y float64 }
	if err := json.Unmarshal([]byte(annPage.eval(`(() => { const r = document.getElementById("messages").getBoundingClientRect();
		return JSON.stringify({ X: r.x + r.width / 2, Y: r.y + r.height / 2 }); })()`)), &at); err != nil {
		t.Fatalf("where Ann's chat is: %v", err)
	}
	drag := &input.DragData{Items: []*input.DragDataItem{}, Files: []string{path}, DragOperationsMask: 1}
	ctx, cancel := context.WithTimeout(annPage.ctx, webStepTimeout)
	defer cancel()
	for _, step := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
		if _, err := chromedp.Call(ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: step, X: at.X, Y: at.Y, Data: drag}); err != nil {
			t.Fatalf("Ann's page: %s of %s: %v", step, name, err)
		}
	}
	done := fmt.Sprintf(`[...document.querySelectorAll('#transfers li.transfer[data-state="completed"]')].some(li => li.textContent.includes(%q))`, name)
	annPage.waitFor("the dropped file sent", done)
	bobPage.waitFor("the dropped file received", done)
	shots.take(annPage, "16-ann-dropped-file-sent")
	got, err := os.ReadFile(filepath.Join(bob.Home, "downloads", name))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Bob's copy of %s: %d bytes, err %v; want the %d bytes Ann dropped", name, len(got), err, len(data))
	}
}

// checkKeyboardOnly: Bob reaches his chat with Ann with the Tab key alone, opens it
// with Enter, which puts him in the message field, and sends a line with Enter.
func checkKeyboardOnly(t *testing.T, annPage, bobPage *page, annID string) {
	t.Helper()
	target := fmt.Sprintf(`document.activeElement === document.querySelector('#contacts li[data-peer=%q] button.conversation')`, annID)
	bobPage.eval(`(() => { document.activeElement?.blur(); return true; })()`)
	const maxTabs = 80
	tabs := 0
	for ; tabs < maxTabs && bobPage.eval(target) != "true"; tabs++ {
		bobPage.do(chromedp.KeyEvent(kb.Tab))
	}
	if tabs == maxTabs {
		t.Fatalf("%d presses of Tab never reached Ann's chat button on Bob's page", maxTabs)
	}
	bobPage.do(chromedp.KeyEvent(kb.Enter))
	bobPage.waitFor("the message field focused", `document.activeElement === document.getElementById("composer-text")`)
	const text = "typed without a mouse"
	bobPage.do(chromedp.KeyEvent(text + kb.Enter))
	annPage.waitFor("Bob's keyboard-only message on Ann's page", fmt.Sprintf(
		`[...document.querySelectorAll('#messages li.in .text')].some(p => p.textContent === %q)`, text))
	t.Logf("keyboard: %d presses of Tab reach a contact's chat from the top of Bob's page", tabs)
}

// checkAccessibleNames: every control a screen reader lists on the page (Chromium's
// own accessibility tree, so what is hidden is left out) has a name to read out.
func checkAccessibleNames(t *testing.T, p *page) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, webStepTimeout)
	defer cancel()
	tree, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		t.Fatalf("%s's page: accessibility tree: %v", p.name, err)
	}
	controls := 0
	for _, n := range tree.Nodes {
		role := axString(n.Role)
		if n.Ignored || !controlRoles[role] {
			continue
		}
		controls++
		if strings.TrimSpace(axString(n.Name)) == "" {
			html, _ := chromedp.Call(ctx, dom.GetOuterHTML, dom.GetOuterHTMLParams{BackendNodeID: n.BackendDOMNodeID})
			t.Errorf("%s's page: a %s without a name for screen readers: %.200s", p.name, role, html.OuterHTML)
		}
	}
	if controls < 10 {
		t.Errorf("%s's page: only %d controls in the accessibility tree; is the app shown?", p.name, controls)
	}
}

// controlRoles are the roles a user operates, which must have a name.
var controlRoles = map[string]bool{
	"button": true, "textbox": true, "searchbox": true, "combobox": true, "checkbox": true,
	"radio": true, "link": true, "listbox": true, "menuitem": true, "slider": true, "spinbutton": true, "switch": true, "tab": true,
}

func axString(v *accessibility.Value) string {
	if v == nil {
		return ""
	}
	var s string
	if err := json.Unmarshal(v.Value, &s); err != nil {
		return ""
	}
	return s
}

// checkHiddenTabNotifies: with notifications allowed for Bob's page, a message from
// Ann that arrives while his tab is hidden raises a desktop notification naming her,
// and stays unread, even in the open conversation, until the tab is shown again; one
// that arrives while the tab is shown raises none. Headless Chromium never hides a
// tab, so the page is told it is hidden (document.hidden and a visibilitychange
// event, which is all the app reads); the notifications are real ones, recorded.
func checkHiddenTabNotifies(t *testing.T, annPage, bobPage *page, bob *testnode.Node, annID string, shots *screenshots) {
	t.Helper()
	bobPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#contacts li[data-peer=%q] button.conversation`, annID))))
	origin := strings.TrimSuffix(apiURL(t, bob), "/")
	if _, err := chromedp.CallBrowser(bobPage.ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted,
		Origin: origin, BrowserContextID: chromedp.FromContext(bobPage.ctx).BrowserContextID,
	}); err != nil {
		t.Fatalf("allow notifications for Bob's page: %v", err)
	}
	bobPage.waitFor("the Enable notifications button gone", `document.getElementById("notify-btn").hidden`)
	bobPage.eval(`(() => { const Real = window.Notification; window.shown = []; window.tabHidden = true;
		window.Notification = class extends Real {
			static get permission() { return Real.permission; }
			constructor(title, opts) { super(title, opts); window.shown.push({ title, body: opts.body }); }
		};
		Object.defineProperty(document, "hidden", { configurable: true, get: () => window.tabHidden });
		document.dispatchEvent(new Event("visibilitychange"));
		return Real.permission; })()`)

	const hidden, shown = "Are you there, Bob?", "Thanks, see you at 4"
	annPage.do(chromedp.SendKeys(chromedp.ID("composer-text"), hidden+kb.Enter))
	bobPage.waitFor("a notification of Ann's message", fmt.Sprintf(
		`window.shown.length === 1 && window.shown[0].title === "Ann" && window.shown[0].body === %q`, hidden))
	incoming := fmt.Sprintf(`[...document.querySelectorAll('#messages li.in')].find(li => li.querySelector('.text').textContent === %q)`, hidden)
	if state := bobPage.eval(incoming + `.dataset.state`); state != "received" {
		t.Errorf("Ann's message in Bob's hidden tab is %q, want received (unread)", state)
	}
	bobPage.eval(`(() => { window.tabHidden = false; document.dispatchEvent(new Event("visibilitychange")); return true; })()`)
	bobPage.waitFor("Ann's message read once the tab shows", incoming+`?.dataset.state === "read"`)
	annPage.waitFor("Ann's message shown read", fmt.Sprintf(
		`[...document.querySelectorAll('#messages li.out')].some(li => li.dataset.state === "read" && li.querySelector('.text').textContent === %q)`, hidden))

	annPage.do(chromedp.SendKeys(chromedp.ID("composer-text"), shown+kb.Enter))
	bobPage.waitFor("Ann's second message on Bob's page", fmt.Sprintf(
		`[...document.querySelectorAll('#messages li.in .text')].some(p => p.textContent === %q)`, shown))
	if n := bobPage.eval(`String(window.shown.length)`); n != "1" {
		t.Errorf("%s notifications after a message to a tab in view, want still 1", n)
	}
	shots.take(bobPage, "15-bob-notified-while-hidden")
}

// checkContactsAndStatus: Bob adds Ann to his contacts, Ann sets her status in her
// page, and Bob's contact list shows it live.
func checkContactsAndStatus(t *testing.T, annPage, bobPage *page, annID string, shots *screenshots) {
	t.Helper()
	bobPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#nearby li[data-peer=%q] button.add-contact`, annID))))
	bobPage.waitFor("Ann in Bob's contacts", fmt.Sprintf(`!!document.querySelector('#contacts li[data-peer=%q]')`, annID))
	// Picking "busy" submits the form at once, with no text yet. Ann's page holds that
	// request back until she has typed her text, as a loaded machine may: its answer
	// must not put the empty text back into the field before she clicks Set.
	annPage.eval(`(() => { window.realFetch = window.fetch; window.heldPresence = [];
		window.fetch = (url, init) => url === "/v1/presence" && init && init.method === "POST"
			? new Promise((ok) => window.heldPresence.push(() => ok(window.realFetch(url, init))))
			: window.realFetch(url, init);
		return true; })()`)
	annPage.do(
		chromedp.SetValue(chromedp.ID("presence"), "busy"),
		chromedp.SetValue(chromedp.ID("status-text"), "in a meeting until 3"),
	)
	annPage.waitFor("Ann's first request held", `window.heldPresence.length === 1`)
	annPage.eval(`(() => { window.fetch = window.realFetch; window.heldPresence.splice(0).forEach((send) => send()); return true; })()`)
	annPage.waitFor("the answer to Ann picking busy", `document.getElementById("toast").textContent === "Status set."`)
	annPage.do(chromedp.Click(chromedp.CSS(`#presence-form button[type="submit"]`)))
	bobPage.waitFor("Ann busy in Bob's contacts", fmt.Sprintf(
		`(() => { const li = document.querySelector('#contacts li[data-peer=%q][data-presence="busy"]');
			return !!li && li.textContent.includes("in a meeting until 3"); })()`, annID))
	shots.take(bobPage, "12-bob-sees-ann-busy")

	// Again without waiting: both requests may be under way together; the last one wins.
	annPage.do(
		chromedp.SetValue(chromedp.ID("presence"), "away"),
		chromedp.SetValue(chromedp.ID("status-text"), "back at 4"),
		chromedp.Click(chromedp.CSS(`#presence-form button[type="submit"]`)),
	)
	bobPage.waitFor("Ann away in Bob's contacts", fmt.Sprintf(
		`(() => { const li = document.querySelector('#contacts li[data-peer=%q][data-presence="away"]');
			return !!li && li.textContent.includes("back at 4"); })()`, annID))
}

// checkSearchAndSafetyNumber: a history search in Ann's page finds her message; the
// safety-number dialog shows the number, or says the node cannot show one yet.
func checkSearchAndSafetyNumber(t *testing.T, annPage *page, shots *screenshots) {
	t.Helper()
	annPage.do(
		chromedp.SetValue(chromedp.ID("search"), "browser"),
		chromedp.Click(chromedp.CSS(`#search-form button[type="submit"]`)),
	)
	annPage.waitFor("the search result, with its date and the word marked", `[...document.querySelectorAll('#search-list button.result')].some(b =>
		b.querySelector(".text").textContent.includes("came from a browser") && b.querySelector(".text mark")?.textContent === "browser"
		&& b.querySelector("time").textContent.includes(String(new Date().getFullYear())))`)
	shots.take(annPage, "13-ann-search")
	// The result opens its message in its conversation, scrolled to and focused.
	annPage.do(chromedp.Click(chromedp.CSS(`#search-list button.result`)))
	annPage.waitFor("the message found, in its chat", `!document.getElementById("conversation").hidden &&
		document.getElementById("search-results").hidden && document.activeElement.matches("#messages li.message.found") &&
		document.activeElement.querySelector(".text").textContent.includes("came from a browser") &&
		document.getElementById("conv-title").textContent.startsWith("Bob")`)
	shots.take(annPage, "13b-ann-search-opened-in-chat")
	annPage.do(chromedp.Click(chromedp.ID("safety-btn")))
	annPage.waitFor("the safety number or a note", `(() => {
		const n = document.getElementById("safety-number").textContent, b = document.getElementById("safety-body").textContent;
		return /^[0-9 ]{60,}$/.test(n) || b.includes("cannot show safety numbers yet"); })()`)
	shots.take(annPage, "14-ann-safety-number")
	annPage.do(chromedp.Click(chromedp.ID("safety-close")))
}

// TestWebAppRooms drives rooms in the web apps of two real nodes: Ann creates a room in
// her page and invites Bob, who is not her contact, so his page shows a pending
// invitation; he joins it there, and their messages show live in each other's page
// with the sender's name. Then an announcement room tells Bob that only owners post,
// a room message that came while he looked elsewhere shows as unread until he opens
// the room, Ann removes him from one room and he leaves the other. Screenshots:
// web-2x-*.png and web-30-*.png.
func TestWebAppRooms(t *testing.T) {
	chromium := findChromium(t)
	ann := testnode.Start(t, testnode.Options{Name: "Ann", Args: loopbackArgs()})
	annID := ann.Status().PeerID
	bob := testnode.Start(t, testnode.Options{Name: "Bob", Args: append(loopbackArgs(), "--peer", tcpAddr(t, ann.Status().Addrs))})
	bobID := bob.Status().PeerID
	shots := newScreenshots(t)

	browser := startBrowser(t, chromium)
	annPage := newPage(t, browser, "Ann")
	bobPage := newPage(t, browser, "Bob")
	annPage.login(ann)
	bobPage.login(bob)
	annPage.waitFor("Bob online on Ann's page", fmt.Sprintf(`!!document.querySelector('#nearby li[data-peer=%q][data-presence="online"]')`, bobID))

	ops := annPage.createRoom("ops", false)
	shots.take(annPage, "21-ann-created-room")
	annPage.inviteToRoom(bobID)
	shots.take(annPage, "22-ann-invited-bob")

	bobPage.waitFor("the invitation on Bob's page", fmt.Sprintf(`!!document.querySelector('#invites li[data-room=%q] button.join')`, ops))
	shots.take(bobPage, "23-bob-invitation")
	bobPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#invites li[data-room=%q] button.join`, ops))))
	bobPage.waitFor("the room open on Bob's page", fmt.Sprintf(
		`!!document.querySelector('#rooms li[data-room=%q] button[aria-current="true"]') && !document.querySelector('#invites li')
			&& !!document.querySelector('#conv-sub .members li[data-peer=%q]')`, ops, annID))
	shots.take(bobPage, "24-bob-joined")

	const hello, reply = "Morning, ops: the build is green", "Thanks Ann, deploying now"
	annPage.do(chromedp.SendKeys(chromedp.ID("composer-text"), hello+kb.Enter))
	bobPage.waitFor("Ann's room message on Bob's page", messageFrom("Ann", hello))
	shots.take(bobPage, "25-bob-got-room-message")
	bobPage.do(chromedp.SendKeys(chromedp.ID("composer-text"), reply+kb.Enter))
	annPage.waitFor("Bob's reply on Ann's page", messageFrom("Bob", reply))
	shots.take(annPage, "26-ann-got-reply")

	news := checkAnnouncementRoom(t, annPage, bobPage, bobID, shots)
	checkRoomUnreadAndRemove(t, annPage, bobPage, ops, bobID, shots)
	checkLeaveRoom(t, annPage, bobPage, news, bobID, shots)
	checkDeclineRoom(t, annPage, bobPage, bobID, shots)
}

// TestWebAppNodeDecides: what the page shows, the node decided. Bob's clock is 9 minutes
// behind (PARLEY_TEST_CLOCK_OFFSET, a test-only setting; within room.MaxClockSkew, past
// which his node would refuse Ann's messages as from the future), so his reply in a room
// carries an earlier time than Ann's question: her page still shows it below the question, in
// the room's Lamport order that every member uses. Mallory, another key that calls
// itself Bob, Ann's contact, is marked as a possible impostor in People nearby (with no
// "Add Bob to contacts"), in its chat and on its message, online and offline.
func TestWebAppNodeDecides(t *testing.T) {
	chromium := findChromium(t)
	ann := testnode.Start(t, testnode.Options{Name: "Ann", Args: loopbackArgs()})
	annID := ann.Status().PeerID
	annAddr := tcpAddr(t, ann.Status().Addrs)
	bob := testnode.Start(t, testnode.Options{Name: "Bob", Args: append(loopbackArgs(), "--peer", annAddr),
		Env: []string{"PARLEY_TEST_CLOCK_OFFSET=-9m"}})
	bobID := bob.Status().PeerID
	waitConnected(t, bob, annID)
	bob.AddContact("Ann", annID) // so Bob's node joins Ann's room at once
	ann.AddContact("Bob", bobID)
	shots := newScreenshots(t)

	ops := roomCLI[api.Room](t, ann, "create", "ops").ID
	roomCLI[api.Room](t, ann, "invite", "ops", bobID)
	waitRoomMembers(t, bob, "ops", 2, "Bob")
	annPage := newPage(t, startBrowser(t, chromium), "Ann")
	annPage.login(ann)
	annPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#rooms li[data-room=%q] button.conversation`, ops))))
	const question, reply = "Who can deploy today?", "I can, right after lunch"
	annPage.do(chromedp.SendKeys(chromedp.ID("composer-text"), question+kb.Enter))
	waitRoomTexts(t, bob, "ops", []string{question})
	bob.CLI("send", "#ops", reply)
	annPage.waitFor("Bob's reply", messageFrom("Bob", reply))
	order := annPage.eval(`JSON.stringify([...document.querySelectorAll('#messages li.message .text')].map(p => p.textContent))`)
	if want := fmt.Sprintf("[%q,%q]", question, reply); order != want {
		t.Fatalf("Ann's page shows the room as %s, want the reply below the question: %s", order, want)
	}
	var times []time.Time
	for _, m := range ann.History("#ops") {
		times = append(times, m.SentAt)
	}
	if len(times) != 2 || !times[1].Before(times[0]) {
		t.Fatalf("sent times %v: Bob's clock should stamp his reply before the question", times)
	}
	shots.take(annPage, "43-room-order-with-skewed-clock")

	mallory := testnode.Start(t, testnode.Options{Name: "Bob", Args: append(loopbackArgs(), "--peer", annAddr)})
	malloryID := mallory.Status().PeerID
	nearby := fmt.Sprintf(`#nearby li[data-peer=%q]`, malloryID)
	marked := fmt.Sprintf(`(() => { const li = document.querySelector('%s');
		return !!li && li.dataset.impostor === "true" && li.querySelector(".impostor") !== null
			&& li.querySelector("button.add-contact") === null
			&& ![...document.querySelectorAll("button")].some(b => /^Add Bob/.test(b.textContent)); })()`, nearby)
	annPage.waitFor("Mallory marked in People nearby, with no Add Bob", marked)
	mallory.CLI("send", annID, "it is me, Bob: send me the keys")
	annPage.do(chromedp.Click(chromedp.CSS(nearby + ` button.conversation`)))
	annPage.waitFor("Mallory's chat and message marked", `document.querySelector("#conv-title .impostor") !== null &&
		[...document.querySelectorAll('#messages li.in')].some(li => li.dataset.impostor === "true" && li.querySelector(".from .impostor"))`)
	shots.take(annPage, "44-impostor-marked")
	mallory.Stop()
	annPage.waitFor("Mallory offline, still marked", fmt.Sprintf(`document.querySelector('%s').dataset.presence === "offline" && %s`, nearby, marked))
	shots.take(annPage, "45-offline-impostor-marked")
	checkLayouts(t, annPage, shots)
}

// checkLayouts: a toast never covers the composer; in a phone-sized window the page
// scrolls no wider than the window; the system's dark mode turns the page dark.
func checkLayouts(t *testing.T, p *page, shots *screenshots) {
	t.Helper()
	const toastClear = `(() => { const a = document.getElementById("toast").getBoundingClientRect(),
		b = document.getElementById("composer").getBoundingClientRect();
		return !document.getElementById("toast").hidden && (a.bottom <= b.top || a.top >= b.bottom || a.right <= b.left || a.left >= b.right); })()`
	p.do(chromedp.Click(chromedp.CSS(`#presence-form button[type="submit"]`)))
	p.waitFor("a toast clear of the composer", toastClear)
	p.do(chromedp.EmulateViewport(400, 800))
	p.eval(`(() => { document.getElementById("toast").hidden = false; return true; })()`)
	p.waitFor("a toast clear of the composer, narrow", toastClear)
	p.waitFor("nothing wider than a narrow window", `document.documentElement.scrollWidth <= window.innerWidth`)
	shots.take(p, "46-narrow-window")
	p.do(chromedp.EmulateViewport(1400, 900))
	ctx, cancel := context.WithTimeout(p.ctx, webStepTimeout)
	defer cancel()
	dark := emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, dark); err != nil {
		t.Fatalf("emulate dark mode: %v", err)
	}
	p.waitFor("a dark page", `getComputedStyle(document.body).backgroundColor === "rgb(20, 24, 31)"`)
	shots.take(p, "47-dark-mode")
}

// checkDeclineRoom: Ann invites Bob to a third room; he declines in his page, the
// invitation goes, and Ann's room counts only her once his node has told hers.
func checkDeclineRoom(t *testing.T, annPage, bobPage *page, bobID string, shots *screenshots) {
	t.Helper()
	spam := annPage.createRoom("lunch", false)
	annPage.inviteToRoom(bobID)
	bobPage.waitFor("the lunch invitation", fmt.Sprintf(`!!document.querySelector('#invites li[data-room=%q] button.decline')`, spam))
	bobPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#invites li[data-room=%q] button.decline`, spam))))
	bobPage.waitFor("the declined invitation gone", fmt.Sprintf(`!document.querySelector('#invites li[data-room=%q]')`, spam))
	shots.take(bobPage, "31-bob-declined-lunch")
	annPage.waitFor("Bob off lunch on Ann's page", fmt.Sprintf(
		`(() => { const li = document.querySelector('#rooms li[data-room=%q]');
			return !!li && li.textContent.includes("1 member,"); })()`, spam))
}

// checkLeaveRoom: Bob leaves news in his page; it goes from his room list (though the
// node's event about it still lists him), and Ann's room list counts one member.
func checkLeaveRoom(t *testing.T, annPage, bobPage *page, news, bobID string, shots *screenshots) {
	t.Helper()
	bobPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#rooms li[data-room=%q] button.conversation`, news))))
	bobPage.waitFor("news open on Bob's page", `document.getElementById("conv-title").textContent === "# news"`)
	bobPage.eval(`(window.confirm = () => true, "set")`) // Leave asks first
	bobPage.do(chromedp.Click(chromedp.ID("room-leave-btn")))
	bobPage.waitFor("news gone from Bob's page", fmt.Sprintf(
		`!document.querySelector('#rooms li[data-room=%q]') && document.getElementById("conv-title").textContent === "Choose a conversation"`, news))
	shots.take(bobPage, "30-bob-left-news")
	annPage.waitFor("Bob gone from news on Ann's page", fmt.Sprintf(
		`(() => { const li = document.querySelector('#rooms li[data-room=%q]');
			return !!li && li.textContent.includes("1 member,"); })()`, news))
}

// checkAnnouncementRoom: in a room where only owners post, Bob's page says so instead
// of offering a composer that would only fail.
func checkAnnouncementRoom(t *testing.T, annPage, bobPage *page, bobID string, shots *screenshots) (news string) {
	t.Helper()
	news = annPage.createRoom("news", true)
	annPage.inviteToRoom(bobID)
	bobPage.waitFor("the news invitation", fmt.Sprintf(`!!document.querySelector('#invites li[data-room=%q] button.join')`, news))
	bobPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#invites li[data-room=%q] button.join`, news))))
	bobPage.waitFor("the owners-only note on Bob's page", fmt.Sprintf(`(() => {
		const note = document.getElementById("composer-note");
		return !!document.querySelector('#rooms li[data-room=%q] button[aria-current="true"]') && !note.hidden
			&& note.textContent.includes("Only the owners post") && document.getElementById("composer-text").disabled
			&& document.querySelector("#messages li.empty")?.textContent === "No announcements yet."; })()`, news))
	shots.take(bobPage, "27-bob-announcement-room")

	// Were the page's view stale (an owner just demoted him), the node refuses the post,
	// and the page says why and gives the words back.
	bobPage.eval(`(() => { const box = document.getElementById("composer-text");
		box.disabled = false; box.value = "may I post?"; document.getElementById("composer").requestSubmit(); return "sent"; })()`)
	bobPage.waitFor("the node's refusal on Bob's page", `(() => { const t = document.getElementById("toast");
		return !t.hidden && t.textContent.includes("only the owners post in the announcement room")
			&& document.getElementById("composer-text").value === "may I post?"; })()`)
	shots.take(bobPage, "27b-bob-post-refused")
	bobPage.eval(`(document.getElementById("composer-text").value = "", "cleared")`)
	return news
}

// checkRoomUnreadAndRemove: while Bob looks at another room, Ann's message in ops shows
// as unread in his room list until he opens ops; then Ann removes him from ops.
func checkRoomUnreadAndRemove(t *testing.T, annPage, bobPage *page, ops, bobID string, shots *screenshots) {
	t.Helper()
	const later = "One more thing about the deploy"
	annPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#rooms li[data-room=%q] button.conversation`, ops))))
	annPage.waitFor("ops open on Ann's page", `document.getElementById("conv-title").textContent === "# ops" && !document.getElementById("composer-text").disabled`)
	annPage.do(chromedp.SendKeys(chromedp.ID("composer-text"), later+kb.Enter))
	unread := fmt.Sprintf(`document.querySelector('#rooms li[data-room=%q] .unread')`, ops)
	bobPage.waitFor("an unread count on ops in Bob's page", `(() => { const u = `+unread+`; return !!u && u.textContent === "1"; })()`)
	shots.take(bobPage, "28-bob-room-unread")
	bobPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#rooms li[data-room=%q] button.conversation`, ops))))
	bobPage.waitFor("the message, and no unread count", messageFrom("Ann", later)+` && !`+unread)

	annPage.eval(`(window.confirm = () => true, "set")`) // the Remove button asks first
	annPage.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#conv-sub .members li[data-peer=%q] button.remove`, bobID))))
	annPage.waitFor("Bob gone from the members on Ann's page", fmt.Sprintf(
		`!!document.querySelector('#conv-sub .members li') && !document.querySelector('#conv-sub .members li[data-peer=%q]')`, bobID))
	shots.take(annPage, "29-ann-removed-bob")
}

// messageFrom is a page expression: a received message with this text, shown as from who.
func messageFrom(who, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#messages li.in')].some(li =>
		li.querySelector('.text').textContent === %q && li.querySelector('.from').textContent === %q)`, text, who)
}

// createRoom makes a room with the sidebar's form and returns its ID once the page
// shows it open.
func (p *page) createRoom(name string, announce bool) string {
	p.t.Helper()
	p.do(chromedp.SetValue(chromedp.ID("room-name"), name))
	if announce {
		p.do(chromedp.Click(chromedp.ID("room-announce")))
	}
	p.do(chromedp.Click(chromedp.CSS(`#room-create button[type="submit"]`)))
	// The room list is redrawn after the title: wait until the current entry is this room,
	// not the one open before it.
	p.waitFor("the new room open", fmt.Sprintf(`(() => {
		const cur = document.querySelector('#rooms li[data-room] button[aria-current="true"] .name');
		return document.getElementById("conv-title").textContent === %q && !!cur && cur.textContent === %q; })()`, "# "+name, "# "+name))
	if announce {
		p.do(chromedp.Click(chromedp.ID("room-announce"))) // leave the form as it was
	}
	return p.eval(`document.querySelector('#rooms li[data-room] button[aria-current="true"]').closest("li").dataset.room`)
}

// inviteToRoom invites a peer to the open room with the Invite dialog and waits until
// the member list shows them.
func (p *page) inviteToRoom(peerID string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.ID("room-invite-btn")))
	p.waitFor("the invite dialog", `document.getElementById("invite-dialog").open`)
	p.do(
		chromedp.SetValue(chromedp.ID("invite-peer"), peerID),
		chromedp.Click(chromedp.ID("invite-submit")),
	)
	p.waitFor("the invited member", fmt.Sprintf(`!!document.querySelector('#conv-sub .members li[data-peer=%q]')`, peerID))
}

// eval runs a JavaScript expression in the page and returns its value as text.
func (p *page) eval(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, webStepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
	if err != nil {
		p.t.Fatalf("%s's page: %s: %v", p.name, expr, err)
	}
	return fmt.Sprint(v)
}

// findChromium returns Debian's chromium (or another Chrome), or skips the test with
// a loud reason, or fails it under CI, which must run it.
func findChromium(t *testing.T) string {
	t.Helper()
	return testenv.Tool(t, "the web app's browser test needs chromium", "chromium", "chromium-browser", "google-chrome")
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
	return openTab(t, browser, name, chromedp.WithNewBrowserContext())
}

// newTab opens another tab in p's browser profile (its storage is p's).
func (p *page) newTab(name string) *page {
	p.t.Helper()
	return openTab(p.t, p.ctx, name)
}

func openTab(t *testing.T, parent context.Context, name string, opts ...chromedp.ContextOption) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, append(opts,
		chromedp.WithListener(func(ev any) {
			if e, ok := ev.(*runtime.EventExceptionThrown); ok {
				d := e.ExceptionDetails
				desc := d.Text
				if d.Exception != nil {
					desc += " " + d.Exception.Description
				}
				t.Logf("%s's page: script error at %s:%d: %s", name, d.URL, d.LineNumber+1, desc)
			}
		}))...)
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
	if !strings.Contains(link, "/#login=") {
		p.t.Fatalf("parley open printed %q, want a login link", link)
	}
	if strings.HasPrefix(link, p.eval(`location.origin`)+"/") {
		// A tab that shows the app already only changes its fragment: no page load
		// for Navigate to wait for.
		p.eval(fmt.Sprintf(`(() => { location.assign(%q); return true; })()`, link))
	} else {
		p.do(chromedp.Navigate(link))
	}
	p.waitFor("the app after login", `!document.getElementById("app").hidden`)
	p.waitFor("the code gone from the address, the token kept in the origin's storage and no cookie", loggedInWell)
}

// loggedInWell: the login code left the page's address, the session token is kept in
// the origin's localStorage (not in a cookie, which the browser would send to every port of 127.0.0.1).
const loggedInWell = `location.hash === "" && /^[0-9a-f]{64}$/.test(localStorage.getItem("parley.session") || "") && document.cookie === ""`

// checkSignOut: Sign out ends this tab's session only (its token is refused after);
// `parley web logout` signs Bob's open page out at once; Sign out everywhere in one of
// Ann's tabs signs out the other; a new link opened in a signed-out tab logs it in again.
func checkSignOut(t *testing.T, browser context.Context, ann, bob *testnode.Node, annPage, bobPage *page, shots *screenshots) {
	t.Helper()
	second := newPage(t, browser, "Ann's second tab")
	second.login(ann)
	old := annPage.eval(`localStorage.getItem("parley.session")`)
	annPage.do(chromedp.Click(chromedp.ID("signout-btn")))
	annPage.waitFor("the login note after Sign out", `!document.getElementById("login-needed").hidden && document.getElementById("app").hidden &&
		document.getElementById("login-ended").textContent === "You signed out." && localStorage.getItem("parley.session") === null`)
	shots.take(annPage, "17-ann-signed-out")
	second.eval(fmt.Sprintf(`(() => { fetch("/v1/status", { headers: { "X-Parley-Session": %q } }).then((r) => { window.oldStatus = r.status; }); return true; })()`, old))
	second.waitFor("the signed-out token refused", `window.oldStatus === 401`)
	second.waitFor("the other tab still in", `!document.getElementById("app").hidden && document.getElementById("conn-state").dataset.state === "open"`)

	if out := bob.CLI("web", "logout"); !strings.Contains(out, "ended 1 web session") {
		t.Errorf("parley web logout printed %q, want ended 1 web session", out)
	}
	bobPage.waitFor("Bob's page signed out by parley web logout", `!document.getElementById("login-needed").hidden &&
		document.getElementById("login-ended").textContent.startsWith("Your session has ended")`)
	shots.take(bobPage, "18-bob-signed-out-by-cli")
	// A token the node no longer knows, in a tab loaded afresh, shows the login note.
	bobPage.eval(`(() => { localStorage.setItem("parley.session", "ab".repeat(32)); return true; })()`)
	bobPage.do(chromedp.Navigate(apiURL(t, bob)))
	bobPage.waitFor("the login note for a stale token", `!document.getElementById("login-needed").hidden &&
		document.getElementById("app").hidden && localStorage.getItem("parley.session") === null`)

	annPage.login(ann) // the same tab: only the fragment changes
	second.do(chromedp.Click(chromedp.ID("signout-all-btn")))
	second.waitFor("the login note after Sign out everywhere", `!document.getElementById("login-needed").hidden &&
		document.getElementById("login-ended").textContent.startsWith("You signed out everywhere")`)
	annPage.waitFor("Ann's first tab signed out everywhere", `!document.getElementById("login-needed").hidden &&
		document.getElementById("login-ended").textContent.startsWith("Your session has ended")`)
	shots.take(annPage, "19-ann-signed-out-everywhere")
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
