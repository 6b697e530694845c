package daemon

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/mailbox"
	"github.com/parley-im/parley/node"
)

// TestRendezvousKeepsMail: with --mailbox the server takes a deposit, and its health and
// metrics count it (held, deposited) with counts per recipient, never contents.
func TestRendezvousKeepsMail(t *testing.T) {
	s := startRendezvous(t, RendezvousOptions{Mailbox: node.MailboxConfig{Serve: true}})
	if !s.info.Mailbox {
		t.Fatalf("info = %+v, want the mailbox on", s.info)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startWait)
	defer cancel()
	depositor, recipient := clientHost(t), clientHost(t)
	ai := s.addrInfo(t)
	depositor.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
	c := &mailbox.Client{Host: depositor}
	if _, err := c.Deposit(ctx, ai.ID, mailbox.Deposit{To: mailbox.PeerAddress(recipient.ID()), Envelope: []byte("sealed")}); err != nil {
		t.Fatalf("deposit: %v", err)
	}
	var h Health
	if err := json.Unmarshal([]byte(get(t, "http://"+s.info.Metrics+"/healthz")), &h); err != nil {
		t.Fatal(err)
	}
	if h.Mailbox == nil || h.Mailbox.Held != 1 || h.Mailbox.Deposited != 1 || len(h.Held) != 1 || h.Held[0].Recipient != recipient.ID().String() {
		t.Fatalf("/healthz mailbox = %+v, held %+v", h.Mailbox, h.Held)
	}
	body := get(t, "http://"+s.info.Metrics+"/metrics")
	for _, want := range []string{"parley_mailbox_held 1\n", "parley_mailbox_deposited_total 1\n", "parley_mailbox_fetched_total 0\n", "parley_mailbox_expired_total 0\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
