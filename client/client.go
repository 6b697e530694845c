// Package client is the typed Go client of a running node's local API. The CLI uses only
// this package to talk to the node; it never links libp2p.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/api"
)

// ErrNotRunning means no node is running for the home directory.
var ErrNotRunning = errors.New("parley is not running")

// APIError is a non-2xx answer of the node.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Is lets callers match API errors against the api package's sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case api.ErrUnknownPeer:
		return e.Code == api.CodeUnknownPeer
	case api.ErrAmbiguousPeer:
		return e.Code == api.CodeAmbiguousPeer
	case api.ErrBadRequest:
		return e.Code == api.CodeBadRequest
	case api.ErrNotFound:
		return e.Code == api.CodeNotFound
	case api.ErrBlocked:
		return e.Code == api.CodeBlocked
	}
	return false
}

// Client talks to the node of one home directory.
type Client struct {
	home  string
	base  string
	token string
	http  *http.Client
}

// New reads the API address and token the node left in home.
func New(home string) (*Client, error) {
	notRunning := fmt.Errorf("%w for home %s: start it with `parley up`", ErrNotRunning, home)
	addr, err := os.ReadFile(filepath.Join(home, api.AddrFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, notRunning
	}
	if err != nil {
		return nil, fmt.Errorf("read the node's API address: %w", err)
	}
	token, err := os.ReadFile(filepath.Join(home, api.TokenFile))
	if err != nil {
		return nil, fmt.Errorf("read the API token (%s): %w", filepath.Join(home, api.TokenFile), err)
	}
	return &Client{
		home:  home,
		base:  "http://" + strings.TrimSpace(string(addr)),
		token: strings.TrimSpace(string(token)),
		http:  &http.Client{},
	}, nil
}

// Status describes the node.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var s api.Status
	return s, c.do(ctx, http.MethodGet, api.PathStatus, nil, &s)
}

// MailboxStatus says what the node keeps for others and where its own mail is kept.
func (c *Client) MailboxStatus(ctx context.Context) (api.MailboxStatus, error) {
	var s api.MailboxStatus
	return s, c.do(ctx, http.MethodGet, api.PathMailbox, nil, &s)
}

// Peers lists known peers.
func (c *Client) Peers(ctx context.Context) ([]api.Peer, error) {
	var l api.PeerList
	return l.Peers, c.do(ctx, http.MethodGet, api.PathPeers, nil, &l)
}

// Send sends text to `to` and waits until it is delivered or has failed.
func (c *Client) Send(ctx context.Context, to, text string) (api.SendResult, error) {
	var r api.SendResult
	return r, c.do(ctx, http.MethodPost, api.PathSend, api.SendRequest{To: to, Text: text}, &r)
}

// Ping measures one libp2p ping round trip from the node to peer `to`.
func (c *Client) Ping(ctx context.Context, to string) (api.PingResult, error) {
	var r api.PingResult
	return r, c.do(ctx, http.MethodPost, api.PathPing+"?"+url.Values{"peer": {to}}.Encode(), nil, &r)
}

// History lists archived messages, oldest first.
func (c *Client) History(ctx context.Context, q api.HistoryQuery) ([]api.Message, error) {
	var l api.MessageList
	return l.Messages, c.do(ctx, http.MethodGet, api.PathHistory+"?"+historyValues(q).Encode(), nil, &l)
}

func historyValues(q api.HistoryQuery) url.Values {
	v := url.Values{}
	setIf(v, "peer", q.Peer)
	setIf(v, "search", q.Search)
	setTime(v, "since", q.Since)
	setTime(v, "until", q.Until)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

func setIf(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}

// Events calls fn for every event until ctx ends, fn returns an error, or the node
// stops (then it returns ErrNotRunning).
func (c *Client) Events(ctx context.Context, fn func(api.Event) error) error {
	return c.EventsOpened(ctx, nil, fn)
}

// EventsOpened is Events that calls opened (if not nil) once the stream is open: every
// event from then on reaches fn, so a client can fetch what happened before without a
// gap.
func (c *Client) EventsOpened(ctx context.Context, opened func(), fn func(api.Event) error) error {
	resp, err := c.request(ctx, http.MethodGet, api.PathEvents, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if opened != nil {
		opened()
	}
	err = readEvents(resp.Body, fn)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, errStreamEnded):
		return fmt.Errorf("%w for home %s: the node closed the event stream", ErrNotRunning, c.home)
	case errors.Is(err, errStreamBroke):
		return fmt.Errorf("%w for home %s: %w", ErrNotRunning, c.home, err)
	}
	return err
}

var (
	errStreamEnded = errors.New("the event stream ended")
	errStreamBroke = errors.New("the event stream broke")
)

// readEvents decodes a server-sent event stream ("data: " lines of JSON, at most 1 MiB
// each) and calls fn for every event, until fn fails, an event is malformed, or the
// stream ends (errStreamEnded) or breaks (errStreamBroke).
func readEvents(r io.Reader, fn func(api.Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e api.Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return fmt.Errorf("bad event from the node: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %w", errStreamBroke, err)
	}
	return errStreamEnded
}

// callTimeout bounds one request/answer call (not the event stream or an export) when
// the caller set no deadline, so a node that hangs never hangs its clients. Generous:
// offering files hashes them first.
const callTimeout = 5 * time.Minute

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, callTimeout)
		defer cancel()
	}
	resp, err := c.request(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("bad answer from the node to %s: %w", path, err)
	}
	return nil
}

// request sends one request and turns transport failures and non-2xx answers into
// errors that say what to do.
func (c *Client) request(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w for home %s (its API at %s does not answer): start it with `parley up`", ErrNotRunning, c.home, c.base)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

func decodeError(resp *http.Response) error {
	var e api.Error
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = fmt.Sprintf("the node answered %s", resp.Status)
	}
	return &APIError{Status: resp.StatusCode, Code: e.Code, Message: e.Error}
}

// LoginLink asks the node for a one-time link that logs a browser in to the web app.
func (c *Client) LoginLink(ctx context.Context) (api.WebLogin, error) {
	var l api.WebLogin
	return l, c.do(ctx, http.MethodPost, api.PathWebLogin, nil, &l)
}

// EndWebSessions ends every web app session and unused login link of the node; it
// returns how many sessions were open.
func (c *Client) EndWebSessions(ctx context.Context) (int, error) {
	var e api.WebSessionsEnded
	return e.Ended, c.do(ctx, http.MethodDelete, api.PathWebSessions, nil, &e)
}
