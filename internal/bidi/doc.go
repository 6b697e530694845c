// Package bidi is a small WebDriver BiDi client for tests: it starts a headless
// Firefox with a fresh profile, opens a session over the browser's websocket, and
// drives tabs in isolated user contexts (each its own cookie jar): navigate,
// evaluate script, click and type with real input actions, pick files for an
// <input type=file>, take screenshots, and report the page's log entries.
//
// It speaks only the few commands Parley's browser tests need
// (https://w3c.github.io/webdriver-bidi/). Every command takes a context with the
// caller's deadline; one goroutine, owned by the Browser and stopped by Close,
// reads the websocket and hands answers and events out.
package bidi
