package client

import (
	"context"
	"net/http"

	"github.com/parley-im/parley/api"
)

// Presence is what the node shows others.
func (c *Client) Presence(ctx context.Context) (api.Presence, error) {
	var p api.Presence
	return p, c.do(ctx, http.MethodGet, api.PathPresence, nil, &p)
}

// SetPresence sets online, away, busy or invisible, with an optional status text.
func (c *Client) SetPresence(ctx context.Context, presence, status string) (api.Presence, error) {
	var p api.Presence
	return p, c.do(ctx, http.MethodPost, api.PathPresence, api.Presence{Presence: presence, Status: status}, &p)
}
