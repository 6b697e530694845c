package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/parley-im/parley/api"
)

// The fake's transfers: one known transfer "t1"; anything else is not found.
var fakeTransfer = api.Transfer{ID: "t1", Direction: "in", PeerID: "12D3KooWB", State: api.TransferPending, TotalBytes: 10}

func (f *fakeBackend) SendFiles(_ context.Context, to string, paths []string) (api.Transfer, error) {
	if to != "bob" {
		return api.Transfer{}, fmt.Errorf("%w %q", api.ErrUnknownPeer, to)
	}
	return api.Transfer{ID: "t2", Direction: "out", PeerID: to, State: api.TransferWaiting, Files: []api.TransferFile{{Path: paths[0]}}}, nil
}

func (f *fakeBackend) Transfers() []api.Transfer { return []api.Transfer{fakeTransfer} }

func (f *fakeBackend) Transfer(id string) (api.Transfer, error) {
	return fakeLookup(id, fakeTransfer.State)
}

func (f *fakeBackend) AcceptTransfer(id string) (api.Transfer, error) {
	return fakeLookup(id, api.TransferTransferring)
}

func (f *fakeBackend) CancelTransfer(id string) (api.Transfer, error) {
	return fakeLookup(id, api.TransferCanceled)
}

func fakeLookup(id, state string) (api.Transfer, error) {
	if id != fakeTransfer.ID {
		return api.Transfer{}, fmt.Errorf("%w: no transfer %q", api.ErrNotFound, id)
	}
	t := fakeTransfer
	t.State = state
	return t, nil
}

func TestTransferRoutes(t *testing.T) {
	s := New(newFake(), testToken, nil)
	cases := []struct {
		method, path, body string
		wantState          string
	}{
		{http.MethodGet, api.PathTransfers + "/t1", "", api.TransferPending},
		{http.MethodPost, api.PathTransfers + "/t1/accept", "", api.TransferTransferring},
		{http.MethodPost, api.PathTransfers + "/t1/cancel", "", api.TransferCanceled},
		{http.MethodPost, api.PathTransfers, `{"to":"bob","paths":["/tmp/x"]}`, api.TransferWaiting},
	}
	for _, c := range cases {
		w := do(t, s, c.method, c.path, c.body)
		var tr api.Transfer
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &tr) != nil || tr.State != c.wantState {
			t.Errorf("%s %s: %d %s, want state %s", c.method, c.path, w.Code, w.Body, c.wantState)
		}
	}
	w := do(t, s, http.MethodGet, api.PathTransfers, "")
	var l api.TransferList
	if err := json.Unmarshal(w.Body.Bytes(), &l); err != nil || len(l.Transfers) != 1 || l.Transfers[0].ID != "t1" {
		t.Errorf("list: %s (%v)", w.Body, err)
	}
}

func TestTransferErrors(t *testing.T) {
	s := New(newFake(), testToken, nil)
	wantError(t, do(t, s, http.MethodGet, api.PathTransfers+"/nope", ""), http.StatusNotFound, api.CodeNotFound)
	wantError(t, do(t, s, http.MethodPost, api.PathTransfers+"/nope/accept", ""), http.StatusNotFound, api.CodeNotFound)
	wantError(t, do(t, s, http.MethodPost, api.PathTransfers, `{"to":"zed","paths":["/x"]}`), http.StatusNotFound, api.CodeUnknownPeer)
	wantError(t, do(t, s, http.MethodPost, api.PathTransfers, `{"to":"bob","paths":"/x"}`), http.StatusBadRequest, api.CodeBadRequest)
}

func (f *fakeBackend) Presence() api.Presence { return api.Presence{Presence: api.PresenceOnline} }

func (f *fakeBackend) SetPresence(presence, status string) (api.Presence, error) {
	if presence == "asleep" {
		return api.Presence{}, fmt.Errorf("%w: presence %q", api.ErrBadRequest, presence)
	}
	return api.Presence{Presence: presence, Status: status}, nil
}

func TestPresenceRoutes(t *testing.T) {
	s := New(newFake(), testToken, nil)
	w := do(t, s, http.MethodPost, api.PathPresence, `{"presence":"away","status":"at lunch"}`)
	var p api.Presence
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != "at lunch" {
		t.Errorf("set presence: %d %s", w.Code, w.Body)
	}
	wantError(t, do(t, s, http.MethodPost, api.PathPresence, `{"presence":"asleep"}`), http.StatusBadRequest, api.CodeBadRequest)
	if w := do(t, s, http.MethodGet, api.PathPresence, ""); w.Code != http.StatusOK {
		t.Errorf("get presence: %d %s", w.Code, w.Body)
	}
}
