package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/transfer"
)

// TransferConfig is how the node moves files.
type TransferConfig struct {
	Downloads  string          // where received files land; default HOME/downloads
	Policy     transfer.Policy // whose offers are accepted without asking
	ScanCmd    []string        // run on each received file before it is released
	MaxSize    int64           // per incoming transfer; 0 = no limit
	AllowRelay bool            // let files go over a relayed connection
	// OfferExpiry: an offer nobody accepted is deleted after this long; 0 =
	// transfer.DefaultPendingExpiry.
	OfferExpiry time.Duration
}

func (n *Node) startTransfers(stateDir string) error {
	tc := n.cfg.Transfers
	m, err := transfer.New(transfer.Config{
		Host: n.host, StateDir: stateDir, Downloads: tc.Downloads, Policy: tc.Policy,
		IsContact: n.contacts.isContact,
		MaxSize:   tc.MaxSize, ScanCmd: tc.ScanCmd, AllowRelay: tc.AllowRelay,
		OnEvent: n.onTransferEvent, Logger: n.log.With("part", "transfer"), OfferLimit: n.limits.offers,
		FrameBudget:   n.frameBudget,
		PendingExpiry: tc.OfferExpiry,
	})
	if err != nil {
		return fmt.Errorf("file transfers: %w", err)
	}
	n.transfers = m
	return nil
}

func (n *Node) onTransferEvent(info transfer.Info) {
	t := n.apiTransfer(info)
	n.events.publish(api.Event{Type: api.EventTransfer, Time: time.Now(), Transfer: &t})
}

// SendFiles offers files and folders to `to` and returns once the offer is answered.
func (n *Node) SendFiles(ctx context.Context, to string, paths []string) (api.Transfer, error) {
	id, err := n.resolve(to)
	if err != nil {
		return api.Transfer{}, err
	}
	if id == n.host.ID() {
		return api.Transfer{}, fmt.Errorf("%w: that peer is you", api.ErrBadRequest)
	}
	if len(paths) == 0 {
		return api.Transfer{}, fmt.Errorf("%w: no files to send", api.ErrBadRequest)
	}
	n.noteWrittenTo(id) // until a restart: transfers are not in the archive
	info, err := n.transfers.Send(ctx, id, paths)
	if err != nil && info.ID == "" {
		return api.Transfer{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return n.apiTransfer(info), nil
}

// Transfers lists every transfer, both ways.
func (n *Node) Transfers() []api.Transfer {
	infos := n.transfers.List()
	out := make([]api.Transfer, len(infos))
	for i, info := range infos {
		out[i] = n.apiTransfer(info)
	}
	return out
}

// Transfer returns one transfer, named by its ID or any unique prefix of it.
func (n *Node) Transfer(id string) (api.Transfer, error) {
	id, err := n.transferID(id)
	if err != nil {
		return api.Transfer{}, err
	}
	info, ok := n.transfers.Get(id)
	if !ok {
		return api.Transfer{}, fmt.Errorf("%w: no transfer %q (see `parley transfers`)", api.ErrNotFound, id)
	}
	return n.apiTransfer(info), nil
}

// transferID is the full ID of the one transfer whose ID is text or starts with it.
func (n *Node) transferID(text string) (string, error) {
	text = strings.ToLower(strings.TrimSpace(text))
	if _, ok := n.transfers.Get(text); ok {
		return text, nil
	}
	var matches []string
	labels := map[string]string{}
	for _, info := range n.transfers.List() {
		if text != "" && strings.HasPrefix(info.ID, text) {
			matches = append(matches, info.ID)
			labels[info.ID] = info.ID + " (" + info.Name + ")"
		}
	}
	return uniqueMatch("transfer", text, matches, labels, "`parley transfers`")
}

// uniqueMatch is the one match of a prefix or name the user typed; none is ErrNotFound,
// several is ErrBadRequest listing them (by their labels).
func uniqueMatch(what, text string, matches []string, labels map[string]string, where string) (string, error) {
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", fmt.Errorf("%w: no %s %q (see %s)", api.ErrNotFound, what, text, where)
	}
	slices.Sort(matches)
	list := make([]string, len(matches))
	for i, m := range matches {
		list[i] = labels[m]
	}
	return "", fmt.Errorf("%w: %q names %d of your %ss: %s; give more of the ID", api.ErrBadRequest, text, len(matches), what, strings.Join(list, ", "))
}

// AcceptTransfer accepts an incoming transfer waiting for the user.
func (n *Node) AcceptTransfer(id string) (api.Transfer, error) {
	return n.transferAction(id, n.transfers.Accept)
}

// CancelTransfer cancels a transfer either way.
func (n *Node) CancelTransfer(id string) (api.Transfer, error) {
	return n.transferAction(id, n.transfers.Cancel)
}

func (n *Node) transferAction(id string, act func(string) error) (api.Transfer, error) {
	id, err := n.transferID(id)
	if err != nil {
		return api.Transfer{}, err
	}
	if err := act(id); err != nil {
		if errors.Is(err, transfer.ErrNotFound) {
			return api.Transfer{}, fmt.Errorf("%w: no transfer %q (see `parley transfers`)", api.ErrNotFound, id)
		}
		return api.Transfer{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return n.Transfer(id)
}

func (n *Node) apiTransfer(info transfer.Info) api.Transfer {
	t := api.Transfer{
		ID: info.ID, Name: info.Name, Direction: string(info.Direction), PeerID: info.Peer.String(), State: string(info.State),
		Error: info.Error, FileCount: info.FileCount, FolderCount: info.FolderCount, TotalBytes: info.TotalBytes, DoneBytes: info.DoneBytes,
		ResumedBytes: info.ResumedBytes, SentBytes: info.SentBytes, Rate: info.Rate,
		StartedAt: info.StartedAt, UpdatedAt: info.UpdatedAt,
	}
	e, known := n.peers.get(info.Peer)
	if known {
		t.PeerName = e.name
	}
	t.Note = transferNote(t, (known && e.online) || n.reachable(info.Peer))
	if info.Direction == transfer.Direction("in") {
		t.Downloads = n.cfg.Transfers.Downloads
	}
	for _, f := range info.Files {
		t.Files = append(t.Files, api.TransferFile{Path: f.Path, Size: f.Size, Done: f.Done})
	}
	return t
}

// maxNote is the most of an error a transfer's note shows.
const maxNote = 100

// transferNote is t's one-line note: a paused transfer whose peer is away says so and
// that it resumes by itself; otherwise the first line of the reason, clipped.
func transferNote(t api.Transfer, reachable bool) string {
	if t.State == string(transfer.StatePaused) && !reachable {
		who := t.PeerName
		if who == "" {
			who = "the " + map[string]string{"in": "sender", "out": "receiver"}[t.Direction]
		}
		return who + " is offline; resumes when they are back"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(t.Error), "\n")
	line = strings.TrimSpace(line)
	if r := []rune(line); len(r) > maxNote {
		line = string(r[:maxNote-1]) + "…"
	}
	return line
}
