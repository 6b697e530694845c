package client

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/parley-im/parley/api"
)

func (f *fakeNode) SendFiles(_ context.Context, to string, paths []string) (api.Transfer, error) {
	return api.Transfer{ID: "t1", PeerID: to, State: api.TransferWaiting, Files: []api.TransferFile{{Path: paths[0]}}}, nil
}

func (f *fakeNode) Transfers() []api.Transfer { return []api.Transfer{{ID: "t1"}} }

func (f *fakeNode) Transfer(id string) (api.Transfer, error) {
	if id != "t1" {
		return api.Transfer{}, fmt.Errorf("%w: no transfer %q", api.ErrNotFound, id)
	}
	return api.Transfer{ID: id, State: api.TransferCompleted}, nil
}

func (f *fakeNode) AcceptTransfer(id string) (api.Transfer, error) { return f.Transfer(id) }
func (f *fakeNode) CancelTransfer(id string) (api.Transfer, error) { return f.Transfer(id) }

func TestTransferCalls(t *testing.T) {
	_, home := serve(t)
	cl, err := New(home)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if tr, err := cl.SendFiles(ctx, "bob", []string{"/a b/c"}); err != nil || tr.Files[0].Path != "/a b/c" {
		t.Errorf("SendFiles: %+v, %v", tr, err)
	}
	if ts, err := cl.Transfers(ctx); err != nil || len(ts) != 1 {
		t.Errorf("Transfers: %+v, %v", ts, err)
	}
	if tr, err := cl.AcceptTransfer(ctx, "t1"); err != nil || !tr.Final() {
		t.Errorf("AcceptTransfer: %+v, %v", tr, err)
	}
	if _, err := cl.CancelTransfer(ctx, "nope/../x"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("CancelTransfer of an unknown ID: %v, want ErrNotFound", err)
	}
}

func (f *fakeNode) Presence() api.Presence { return api.Presence{Presence: api.PresenceOnline} }

func (f *fakeNode) SetPresence(presence, status string) (api.Presence, error) {
	return api.Presence{Presence: presence, Status: status}, nil
}
