package api

import "time"

// Paths of the web app's part of the local API.
const (
	// PathWebLogin (POST, bearer token only): WebLogin, a one-time link that logs a
	// browser in to the web app.
	PathWebLogin = "/v1/web/login"
	// PathUploads (POST ?to=PEER&name=NAME, the file as the body): Transfer. The node
	// stores the file under HOME/outbox and offers it to PEER like `parley send-file`.
	PathUploads = "/v1/uploads"
)

// OutboxDir is the folder under HOME where files uploaded by the web app wait, one
// folder per upload. The node removes an upload once no unfinished transfer sends it
// and it has not changed for an hour.
const OutboxDir = "outbox"

// CSRFHeader must be set (to "1") on every request the web app makes that is not a GET:
// a cookie alone does not authorize a change.
const CSRFHeader = "X-Parley"

// WebLogin is a one-time login link to the web app (`parley open`).
type WebLogin struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}
