package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/parley-im/parley/api"
)

// Contacts lists the buddy list and blocked peers.
func (c *Client) Contacts(ctx context.Context) ([]api.Contact, error) {
	var l api.ContactList
	return l.Contacts, c.do(ctx, http.MethodGet, api.PathContacts, nil, &l)
}

// AddContact adds a peer to the buddy list or changes its nickname and group.
func (c *Client) AddContact(ctx context.Context, req api.ContactRequest) (api.Contact, error) {
	var ct api.Contact
	return ct, c.do(ctx, http.MethodPost, api.PathContacts, req, &ct)
}

// RemoveContact takes a peer off the buddy list.
func (c *Client) RemoveContact(ctx context.Context, who string) error {
	var none struct{}
	return c.do(ctx, http.MethodDelete, contactPath(who, ""), nil, &none)
}

// SetBlocked blocks or unblocks a peer.
func (c *Client) SetBlocked(ctx context.Context, who string, blocked bool) (api.Contact, error) {
	action := "/unblock"
	if blocked {
		action = "/block"
	}
	var ct api.Contact
	return ct, c.do(ctx, http.MethodPost, contactPath(who, action), nil, &ct)
}

// Verification fetches what to compare with a peer's user: fingerprints and the safety
// number. Nothing is marked.
func (c *Client) Verification(ctx context.Context, who string) (api.Verification, error) {
	var v api.Verification
	return v, c.do(ctx, http.MethodGet, contactPath(who, "/verify"), nil, &v)
}

// Verify marks a contact verified, once its safety number was compared.
func (c *Client) Verify(ctx context.Context, who string) (api.Verification, error) {
	var v api.Verification
	return v, c.do(ctx, http.MethodPost, contactPath(who, "/verify"), nil, &v)
}

func contactPath(who, action string) string {
	return api.PathContacts + "/" + url.PathEscape(who) + action
}

// MarkRead marks the conversation with `who` read and sends read receipts.
func (c *Client) MarkRead(ctx context.Context, who string) (int, error) {
	var r api.ReadResult
	return r.Marked, c.do(ctx, http.MethodPost, api.PathRead, api.ReadRequest{Peer: who}, &r)
}

// Export copies the archive as JSON lines to w.
func (c *Client) Export(ctx context.Context, w io.Writer, q api.HistoryQuery) (int64, error) {
	resp, err := c.request(ctx, http.MethodGet, api.PathExport+"?"+historyValues(q).Encode(), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("export ended early after %d bytes: %w", n, err)
	}
	return n, nil
}

// Report is the time spent in conversation per peer; zero gap and a negative minSession
// take the node's defaults.
func (c *Client) Report(ctx context.Context, since, until time.Time, gap, minSession time.Duration) (api.Report, error) {
	v := url.Values{}
	setTime(v, "since", since)
	setTime(v, "until", until)
	if gap > 0 {
		v.Set("gap", gap.String())
	}
	if minSession >= 0 {
		v.Set("min", minSession.String())
	}
	var r api.Report
	return r, c.do(ctx, http.MethodGet, api.PathReport+"?"+v.Encode(), nil, &r)
}

// Purge deletes messages sent before `before`.
func (c *Client) Purge(ctx context.Context, before time.Time) (int64, error) {
	var r api.PurgeResult
	return r.Deleted, c.do(ctx, http.MethodPost, api.PathPurge, api.PurgeRequest{Before: before}, &r)
}

func setTime(v url.Values, k string, t time.Time) {
	if !t.IsZero() {
		v.Set(k, t.Format(time.RFC3339Nano))
	}
}
