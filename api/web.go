package api

import "time"

// Paths of the web app's part of the local API.
const (
	// PathWebLogin (POST, bearer token only): WebLogin, a one-time link that logs a
	// browser in to the web app.
	PathWebLogin = "/v1/web/login"
	// PathWebSession: POST WebSessionRequest (no authorization but the one-time code
	// itself; the page's own origin and CSRFHeader) answers a WebSession; DELETE (web
	// session only) ends the calling session.
	PathWebSession = "/v1/web/session"
	// PathWebSessions (DELETE, bearer token or web session): WebSessionsEnded. Ends every
	// web session and drops the login links not used yet.
	PathWebSessions = "/v1/web/sessions"
	// PathUploads (POST ?to=PEER&name=NAME, the file as the body): Transfer. The node
	// stores the file under HOME/outbox and offers it to PEER like `parley send-file`.
	PathUploads = "/v1/uploads"
)

// OutboxDir is the folder under HOME where files uploaded by the web app wait, one
// folder per upload. The node removes an upload once no unfinished transfer sends it
// and it has not changed for an hour.
const OutboxDir = "outbox"

// SessionHeader carries a web session's token on every request of the web app. It is
// a header, not a cookie: browsers send a cookie of 127.0.0.1 to every port of the
// machine (so to every other local service), but a header only where the page's own
// script puts it.
const SessionHeader = "X-Parley-Session"

// CSRFHeader must be set (to "1") on every request the web app makes that is not a GET.
const CSRFHeader = "X-Parley"

// WebLogin is a one-time login link to the web app (`parley open`). The code is in the
// link's fragment (#login=CODE), which browsers never send to a server: the page
// trades it for a WebSession.
type WebLogin struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// WebSessionRequest trades a login link's one-time code for a session.
type WebSessionRequest struct {
	Code string `json:"code"`
}

// WebSession is a browser's authority: the page keeps Token (in its origin's
// localStorage) and sends it in SessionHeader. The session ends after IdleTimeout
// without use, at ExpiresAt, or when the user ends it; node restarts keep it.
type WebSession struct {
	Token       string        `json:"token"`
	ExpiresAt   time.Time     `json:"expires_at"`
	IdleTimeout time.Duration `json:"idle_timeout_ns"`
}

// WebSessionsEnded says how many web sessions an end-all request ended.
type WebSessionsEnded struct {
	Ended int `json:"ended"`
}
