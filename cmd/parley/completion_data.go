package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
)

// nodeData is what one TAB asks of the node, each list fetched once and only when
// needed. Every failure (no node, no answer in time) leaves a list empty: completion
// prints nothing rather than an error.
type nodeData struct {
	ctx context.Context
	cl  *client.Client // nil when no node runs for the home

	self      *string
	peers     []api.Peer
	contacts  []api.Contact
	roomCache *api.RoomList
	gotPeople bool
}

// data is the node's data for this request; asked for once, on first use.
func (c *completion) data(ctx context.Context) *nodeData {
	if c.node == nil {
		cl, err := client.New(c.home)
		if err != nil {
			cl = nil
		}
		c.node = &nodeData{ctx: ctx, cl: cl}
	}
	return c.node
}

func (d *nodeData) selfID() string {
	if d.self == nil {
		s := ""
		if d.cl != nil {
			if st, err := d.cl.Status(d.ctx); err == nil {
				s = st.PeerID
			}
		}
		d.self = &s
	}
	return *d.self
}

func (d *nodeData) people() ([]api.Peer, []api.Contact) {
	if !d.gotPeople && d.cl != nil {
		d.peers, _ = d.cl.Peers(d.ctx)
		d.contacts, _ = d.cl.Contacts(d.ctx)
	}
	d.gotPeople = true
	return d.peers, d.contacts
}

func (d *nodeData) roomList() api.RoomList {
	if d.roomCache == nil {
		d.roomCache = &api.RoomList{}
		if d.cl != nil {
			*d.roomCache, _ = d.cl.Rooms(d.ctx)
		}
	}
	return *d.roomCache
}

// person is one peer as the completions see it.
type person struct {
	id       string
	names    []string // nickname first, then the name it announces
	contact  bool
	blocked  bool
	presence string
}

// everyone merges contacts (and blocked peers) with the peers seen, contacts first.
func (d *nodeData) everyone() []person {
	peers, contacts := d.people()
	var out []person
	index := map[string]int{}
	for _, ct := range contacts {
		index[ct.PeerID] = len(out)
		out = append(out, person{id: ct.PeerID, names: nonEmpty(ct.Nickname, ct.Name), contact: ct.Contact, blocked: ct.Blocked, presence: ct.Presence})
	}
	for _, p := range peers {
		if i, ok := index[p.PeerID]; ok {
			out[i].presence = p.Presence
			continue
		}
		out = append(out, person{id: p.PeerID, names: nonEmpty(p.Name), presence: p.Presence})
	}
	return out
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// resolves is what the node would make of name (node.resolve): the contacts of that
// nickname or name if there are any, else the peers seen of that name.
func resolves(everyone []person, peers []api.Peer, name string) []string {
	var ids []string
	for _, p := range everyone {
		if p.contact && slices.ContainsFunc(p.names, func(n string) bool { return strings.EqualFold(n, name) }) {
			ids = append(ids, p.id)
		}
	}
	if len(ids) > 0 {
		return ids
	}
	for _, p := range peers {
		if strings.EqualFold(p.Name, name) {
			ids = append(ids, p.PeerID)
		}
	}
	return ids
}

// label is the word that names p on a command line: its first name that the node
// resolves to p alone and that prints as it is, else its peer ID.
func (d *nodeData) label(everyone []person, p person) string {
	peers, _ := d.people()
	for _, name := range p.names {
		if visible(name) != name || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "#") {
			continue
		}
		if ids := resolves(everyone, peers, name); len(ids) == 1 && ids[0] == p.id {
			return name
		}
	}
	return p.id
}

func (p person) describe() string {
	var parts []string
	if p.contact {
		parts = append(parts, "contact")
	}
	if p.blocked {
		parts = append(parts, "blocked")
	} else if p.presence != "" {
		parts = append(parts, p.presence)
	}
	return strings.Join(append(parts, p.id), ", ")
}

// peopleWhere are the labels of the people keep accepts, once each, without this node.
func (d *nodeData) peopleWhere(keep func(person) bool) []candidate {
	everyone := d.everyone()
	self := d.selfID()
	var out []candidate
	seen := map[string]bool{}
	for _, p := range everyone {
		if p.id == self || !keep(p) {
			continue
		}
		word := d.label(everyone, p)
		if !seen[strings.ToLower(word)] {
			seen[strings.ToLower(word)] = true
			out = append(out, candidate{word, p.describe()})
		}
	}
	return out
}

// recipients are who send, chat, history and send-file take: people not blocked and
// the rooms joined, as '#NAME'.
func (d *nodeData) recipients() []candidate {
	out := d.peopleWhere(func(p person) bool { return !p.blocked })
	for _, r := range d.roomList().Rooms {
		out = append(out, candidate{"#" + d.roomWord(r), roomDesc(r)})
	}
	return out
}

// roomWord names room r: its name, or its ID when the name is not unique among the
// rooms joined or does not print as it is.
func (d *nodeData) roomWord(r api.Room) string {
	same := 0
	for _, o := range d.roomList().Rooms {
		if o.Name == r.Name {
			same++
		}
	}
	if same != 1 || visible(r.Name) != r.Name || r.Name == "" || strings.HasPrefix(r.Name, "-") {
		return r.ID
	}
	return r.Name
}

func roomDesc(r api.Room) string {
	role := "member"
	if r.Owner {
		role = "owner"
	}
	return fmt.Sprintf("room, %s, %s", plural(len(r.Members), "member"), role)
}

// rooms are the rooms joined by name (invite and remove: only those this node owns).
func (d *nodeData) rooms(owned bool) []candidate {
	var out []candidate
	for _, r := range d.roomList().Rooms {
		if !owned || r.Owner {
			out = append(out, candidate{d.roomWord(r), roomDesc(r)})
		}
	}
	return out
}

// roomPeers are, for `room remove`, the members of the room named ref but this node;
// for `room invite`, the people not blocked who are not members yet.
func (d *nodeData) roomPeers(ref string, members bool) []candidate {
	ref = strings.TrimPrefix(ref, "#")
	var r *api.Room
	for _, o := range d.roomList().Rooms {
		if o.Name == ref || o.ID == ref {
			r = &o
			break
		}
	}
	if r == nil {
		return nil
	}
	isMember := func(id string) bool {
		return slices.ContainsFunc(r.Members, func(m api.RoomMember) bool { return m.PeerID == id })
	}
	if !members {
		return d.peopleWhere(func(p person) bool { return !p.blocked && !isMember(p.id) })
	}
	self := d.selfID()
	var out []candidate
	for _, m := range r.Members {
		if m.PeerID == self {
			continue
		}
		word := m.PeerID
		same := 0
		for _, o := range r.Members {
			if strings.EqualFold(o.Name, m.Name) {
				same++
			}
		}
		if m.Name != "" && same == 1 && visible(m.Name) == m.Name && !strings.HasPrefix(m.Name, "-") {
			word = m.Name
		}
		out = append(out, candidate{word, "member, " + m.PeerID})
	}
	return out
}

// contactsFor are the people `contacts SUB` takes: add the peers seen who are not
// contacts, unblock the blocked, block the rest, rm and verify the contacts.
func (d *nodeData) contactsFor(sub string) []candidate {
	keep := map[string]func(person) bool{
		"add":     func(p person) bool { return !p.contact && !p.blocked },
		"rm":      func(p person) bool { return p.contact },
		"verify":  func(p person) bool { return p.contact },
		"block":   func(p person) bool { return !p.blocked },
		"unblock": func(p person) bool { return p.blocked },
	}[sub]
	if keep == nil {
		return nil
	}
	return d.peopleWhere(keep)
}

// invites are the pending room invitations by ID.
func (d *nodeData) invites() []candidate {
	var out []candidate
	for _, inv := range d.roomList().Invites {
		out = append(out, candidate{inv.ID, fmt.Sprintf("invitation to #%s from %s", inv.Name, orDefault(inv.FromName, inv.From))})
	}
	return out
}

// transfers are the IDs of the incoming transfers waiting for accept (pending), or of
// every transfer that has not ended (cancel).
func (d *nodeData) transfers(pending bool) []candidate {
	if d.cl == nil {
		return nil
	}
	ts, _ := d.cl.Transfers(d.ctx)
	var out []candidate
	for _, t := range ts {
		if t.Final() || pending && (t.State != api.TransferPending || t.Direction != "in") {
			continue
		}
		out = append(out, candidate{t.ID, transferDesc(t)})
	}
	return out
}

func transferDesc(t api.Transfer) string {
	name := "?"
	if len(t.Files) > 0 {
		name = t.Files[0].Path
		if len(t.Files) > 1 {
			name += fmt.Sprintf(" and %d more", len(t.Files)-1)
		}
	}
	who := orDefault(t.PeerName, t.PeerID)
	dir := "to " + who
	if t.Direction == "in" {
		dir = "from " + who
	}
	return fmt.Sprintf("%s %s, %s", name, dir, t.State)
}
