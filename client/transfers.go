package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/parley-im/parley/api"
)

// SendFiles offers files and folders (paths on the node's machine) to `to`. It returns
// once the offer is made; follow the transfer with Transfer or WaitTransfer.
func (c *Client) SendFiles(ctx context.Context, to string, paths []string) (api.Transfer, error) {
	var t api.Transfer
	return t, c.do(ctx, http.MethodPost, api.PathTransfers, api.SendFilesRequest{To: to, Paths: paths}, &t)
}

// Transfers lists every transfer the node knows, both ways.
func (c *Client) Transfers(ctx context.Context) ([]api.Transfer, error) {
	var l api.TransferList
	return l.Transfers, c.do(ctx, http.MethodGet, api.PathTransfers, nil, &l)
}

// Transfer returns one transfer.
func (c *Client) Transfer(ctx context.Context, id string) (api.Transfer, error) {
	var t api.Transfer
	return t, c.do(ctx, http.MethodGet, transferPath(id, ""), nil, &t)
}

// AcceptTransfer accepts an incoming transfer that waits for the user.
func (c *Client) AcceptTransfer(ctx context.Context, id string) (api.Transfer, error) {
	var t api.Transfer
	return t, c.do(ctx, http.MethodPost, transferPath(id, "/accept"), nil, &t)
}

// CancelTransfer stops a transfer either way and tells the peer.
func (c *Client) CancelTransfer(ctx context.Context, id string) (api.Transfer, error) {
	var t api.Transfer
	return t, c.do(ctx, http.MethodPost, transferPath(id, "/cancel"), nil, &t)
}

func transferPath(id, action string) string {
	return api.PathTransfers + "/" + url.PathEscape(id) + action
}
