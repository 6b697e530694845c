package client

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
)

func (f *fakeNode) Contacts(context.Context) ([]api.Contact, error) { return nil, nil }

func (f *fakeNode) AddContact(_ context.Context, req api.ContactRequest) (api.Contact, error) {
	return api.Contact{PeerID: req.Peer, Contact: true}, nil
}

func (f *fakeNode) RemoveContact(context.Context, string) error { return nil }

func (f *fakeNode) SetBlocked(_ context.Context, who string, blocked bool) (api.Contact, error) {
	return api.Contact{PeerID: who, Blocked: blocked}, nil
}

func (f *fakeNode) Verification(_ context.Context, who string) (api.Verification, error) {
	return api.Verification{PeerID: who, SafetyNumber: "12345"}, nil
}

func (f *fakeNode) Verify(_ context.Context, who string) (api.Verification, error) {
	return api.Verification{PeerID: who, SafetyNumber: "12345", Verified: true}, nil
}

func (f *fakeNode) MarkConversationRead(context.Context, string) (int, error) { return 0, nil }

func (f *fakeNode) Export(_ context.Context, w io.Writer, _ api.HistoryQuery) (int, error) {
	io.WriteString(w, `{"id":"m1"}`+"\n")
	return 1, nil
}

func (f *fakeNode) Report(context.Context, time.Time, time.Time, time.Duration, time.Duration) (api.Report, error) {
	return api.Report{}, nil
}

func (f *fakeNode) Purge(context.Context, time.Time) (int64, error) { return 0, nil }

func TestVerifyCalls(t *testing.T) {
	_, home := serve(t)
	c := newClient(t, home)
	ctx := context.Background()
	v, err := c.Verification(ctx, "bob/ & co")
	if err != nil || v.PeerID != "bob/ & co" || v.Verified || v.SafetyNumber != "12345" {
		t.Errorf("Verification = %+v, %v (the peer must survive path escaping)", v, err)
	}
	v, err = c.Verify(ctx, "bob")
	if err != nil || !v.Verified {
		t.Errorf("Verify = %+v, %v", v, err)
	}
}
