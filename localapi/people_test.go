package localapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
)

func (f *fakeBackend) Contacts(context.Context) ([]api.Contact, error) {
	return []api.Contact{{PeerID: "12D3KooWB", Nickname: "bob", Contact: true}}, nil
}

func (f *fakeBackend) AddContact(_ context.Context, req api.ContactRequest) (api.Contact, error) {
	if req.Peer != "bob" {
		return api.Contact{}, fmt.Errorf("%w %q", api.ErrUnknownPeer, req.Peer)
	}
	return api.Contact{PeerID: "12D3KooWB", Nickname: req.Nickname, Group: req.Group, Contact: true}, nil
}

func (f *fakeBackend) RemoveContact(_ context.Context, who string) error {
	if who != "bob" {
		return fmt.Errorf("%w: %s is not a contact", api.ErrNotFound, who)
	}
	return nil
}

func (f *fakeBackend) SetBlocked(_ context.Context, who string, blocked bool) (api.Contact, error) {
	return api.Contact{PeerID: who, Blocked: blocked}, nil
}

func (f *fakeBackend) Verification(_ context.Context, who string) (api.Verification, error) {
	if who != "bob" {
		return api.Verification{}, fmt.Errorf("%w %q", api.ErrUnknownPeer, who)
	}
	return api.Verification{PeerID: "12D3KooWB", SafetyNumber: "12345 67890"}, nil
}

func (f *fakeBackend) Verify(ctx context.Context, who string) (api.Verification, error) {
	v, err := f.Verification(ctx, who)
	v.Verified = err == nil
	return v, err
}

func (f *fakeBackend) MarkConversationRead(context.Context, string) (int, error) { return 3, nil }

func (f *fakeBackend) Export(_ context.Context, w io.Writer, q api.HistoryQuery) (int, error) {
	io.WriteString(w, `{"id":"m1"}`+"\n"+`{"id":"m2","peer":"`+q.Peer+`"}`+"\n")
	return 2, nil
}

func (f *fakeBackend) Report(_ context.Context, since, until time.Time, gap, minSession time.Duration) (api.Report, error) {
	return api.Report{Since: since, Until: until, Gap: gap, MinSession: minSession}, nil
}

func (f *fakeBackend) Purge(_ context.Context, before time.Time) (int64, error) {
	if before.IsZero() {
		return 0, fmt.Errorf("%w: purge needs a time", api.ErrBadRequest)
	}
	return 7, nil
}

func TestPeopleRoutes(t *testing.T) {
	s := New(newFake(), testToken, nil)
	for _, c := range []struct{ method, path, body, want string }{
		{http.MethodGet, api.PathContacts, "", `"nickname":"bob"`},
		{http.MethodPost, api.PathContacts, `{"peer":"bob","nickname":"Bobby","group":"work"}`, `"group":"work"`},
		{http.MethodDelete, api.PathContacts + "/bob", "", `{}`},
		{http.MethodPost, api.PathContacts + "/12D3KooWB/block", "", `"blocked":true`},
		{http.MethodPost, api.PathContacts + "/12D3KooWB/unblock", "", `"blocked":false`},
		{http.MethodGet, api.PathContacts + "/bob/verify", "", `"safety_number":"12345 67890","verified":false`},
		{http.MethodPost, api.PathContacts + "/bob/verify", "", `"verified":true`},
		{http.MethodPost, api.PathRead, `{"peer":"bob"}`, `"marked":3`},
		{http.MethodGet, api.PathExport + "?peer=bob", "", `{"id":"m2","peer":"bob"}`},
		{http.MethodGet, api.PathReport + "?gap=5m", "", `"gap_ns":300000000000,"min_session_ns":-1`},
		{http.MethodPost, api.PathPurge, `{"before":"2026-01-01T00:00:00Z"}`, `"deleted":7`},
	} {
		w := do(t, s, c.method, c.path, c.body)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s %s: %d %s, want it to contain %s", c.method, c.path, w.Code, w.Body, c.want)
		}
	}
}

func TestPeopleErrors(t *testing.T) {
	s := New(newFake(), testToken, nil)
	wantError(t, do(t, s, http.MethodPost, api.PathContacts, `{"peer":"zed"}`), http.StatusNotFound, api.CodeUnknownPeer)
	wantError(t, do(t, s, http.MethodDelete, api.PathContacts+"/zed", ""), http.StatusNotFound, api.CodeNotFound)
	wantError(t, do(t, s, http.MethodGet, api.PathContacts+"/zed/verify", ""), http.StatusNotFound, api.CodeUnknownPeer)
	wantError(t, do(t, s, http.MethodPost, api.PathContacts+"/zed/verify", ""), http.StatusNotFound, api.CodeUnknownPeer)
	wantError(t, do(t, s, http.MethodPost, api.PathContacts, `{"who":"bob"}`), http.StatusBadRequest, api.CodeBadRequest)
	wantError(t, do(t, s, http.MethodGet, api.PathReport+"?gap=-1m", ""), http.StatusBadRequest, api.CodeBadRequest)
	wantError(t, do(t, s, http.MethodPost, api.PathPurge, `{}`), http.StatusBadRequest, api.CodeBadRequest)
}
