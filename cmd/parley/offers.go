package main

import (
	"fmt"
	"sync"

	"github.com/parley-im/parley/api"
)

// shortTransferID is the prefix of a transfer ID shown to people: any unique prefix
// names a transfer (the node says which ones an ambiguous prefix matches).
func shortTransferID(id string) string { return id[:min(len(id), 8)] }

// transferName is what a transfer is called on screen: its one top-level file or folder
// (or "a.txt and 2 more"), as the node names it.
func transferName(t api.Transfer) string {
	switch {
	case t.Name != "":
		return visible(t.Name)
	case len(t.Files) > 0: // a node older than names
		return visible(t.Files[0].Path)
	}
	return shortTransferID(t.ID)
}

// offerLine announces an incoming offer that waits for the user.
func offerLine(t api.Transfer) string {
	return fmt.Sprintf("%s offers %s (%s): `parley transfers accept %s`",
		peerLabel(t), transferName(t), formatBytes(t.TotalBytes), shortTransferID(t.ID))
}

// offerAnnouncer turns the event stream's incoming offers into one line each: an offer
// is announced once, when it is first seen waiting for the user.
type offerAnnouncer struct {
	mu   sync.Mutex
	seen map[string]bool
}

// announce returns the line to print for e, if e is an offer not yet announced.
func (a *offerAnnouncer) announce(e api.Event) (string, bool) {
	t := e.Transfer
	if e.Type != api.EventTransfer || t == nil || t.Direction != "in" || t.State != api.TransferPending {
		return "", false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen[t.ID] {
		return "", false
	}
	if a.seen == nil {
		a.seen = map[string]bool{}
	}
	a.seen[t.ID] = true
	return offerLine(*t), true
}
