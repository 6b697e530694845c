package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
)

// recentLines is how many messages a chat shows when it opens.
const recentLines = 20

func chatCommand() *cli.Command {
	return &cli.Command{
		Name:      "chat",
		Usage:     "interactive chat: type to send, incoming messages appear as they arrive",
		ArgsUsage: "[TO]",
		Description: "With TO (a peer, or '#ROOM'), every line you type goes to TO and only TO's messages are shown.\n" +
			"Without TO, all incoming messages are shown and a line `@NAME text` sends text to NAME.\n" +
			"It opens on the last 20 messages; each line you send shows queued, delivered and read as\n" +
			"that happens; the other side's presence changes appear. On a terminal the line you are\n" +
			"typing stays whole when messages arrive. If the node restarts, the chat reconnects.\n" +
			"Ctrl-D (or Ctrl-C on a terminal) leaves.",
		Action: runChat,
	}
}

// chatSession shows one conversation (or all of them) and sends typed lines. Lines are
// sent one at a time, in order, by its sender; its watcher follows the event stream
// and reconnects when the node restarts.
type chatSession struct {
	home string
	to   string // as typed: a peer, '#room', or "" for every conversation
	peer string // to's peer ID, when to is a peer that could be resolved
	scr  screen

	mu       sync.Mutex
	cl       *client.Client
	lost     bool              // the node went away; the watcher is reconnecting
	seen     map[string]bool   // keys of the messages shown
	last     time.Time         // SentAt of the newest message shown, for catching up
	mine     map[string]string // message ID → text, for the lines sent from this chat
	shown    map[string]string // message ID → the state last shown for it
	states   map[string]string // message ID → the newest state an event told (may precede the send's answer)
	presence string            // the peer's presence line last shown

	offers offerAnnouncer // incoming file offers, announced once each
}

func runChat(c *cli.Context) error {
	cl, err := connect(c)
	if err != nil {
		return err
	}
	s := &chatSession{
		home: homeOf(c), to: strings.TrimSpace(c.Args().First()), cl: cl,
		seen: map[string]bool{}, mine: map[string]string{}, shown: map[string]string{}, states: map[string]string{},
	}
	recent, err := s.open(c.Context) // an unknown peer or room fails here, before any input
	if err != nil {
		return err
	}
	if s.scr, err = newScreen(c.App.Reader, c.App.Writer, c.App.ErrWriter); err != nil {
		return err
	}
	defer s.scr.Close()
	s.scr.Print(s.banner())
	s.showRecent(c.Context, recent)
	return s.run(c.Context)
}

// run reads lines until the end of input, then waits for the sender to send them. An
// interrupt (ctx) ends it at once; the reader, blocked on input, ends with the process.
func (s *chatSession) run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	lines := make(chan string, 64)
	watched, sent := make(chan struct{}), make(chan struct{})
	go func() { defer close(watched); s.watch(ctx) }()
	go func() { defer close(sent); s.sendAll(ctx, lines) }()
	go s.readLines(ctx, lines)
	select {
	case <-sent:
	case <-ctx.Done():
	}
	cancel()
	<-watched
	return nil
}

// readLines passes typed lines to the sender and closes lines at the end of input.
func (s *chatSession) readLines(ctx context.Context, lines chan<- string) {
	defer close(lines)
	for {
		line, err := s.scr.ReadLine()
		if err != nil {
			return
		}
		select {
		case lines <- line:
		case <-ctx.Done():
			return
		}
	}
}

func (s *chatSession) banner() string {
	if s.to == "" {
		return "Showing all incoming messages. Send with `@NAME text`; Ctrl-D to leave."
	}
	b := fmt.Sprintf("Chatting with %s. Type a message and press Enter; Ctrl-D to leave.", visible(s.to))
	if s.presence != "" {
		b += "\n* " + s.presence
	}
	return b
}

func (s *chatSession) client() *client.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cl
}

// open fetches the last messages of the conversation, which also checks that the node
// knows TO, and finds TO's peer ID and presence.
func (s *chatSession) open(ctx context.Context) ([]api.Message, error) {
	recent, err := s.cl.History(ctx, api.HistoryQuery{Peer: s.to, Limit: recentLines})
	if err != nil {
		return nil, err
	}
	if s.to != "" && !strings.HasPrefix(s.to, "#") {
		s.peer = s.resolvePeer(ctx, recent)
	}
	return recent, nil
}

// resolvePeer finds TO's peer ID among the contacts, the peers and the recent messages
// ("" if none has it), and notes its presence.
func (s *chatSession) resolvePeer(ctx context.Context, recent []api.Message) string {
	peers, _ := s.cl.Peers(ctx)
	contacts, _ := s.cl.Contacts(ctx)
	id := ""
	for _, c := range contacts {
		if c.PeerID == s.to || c.Contact && (strings.EqualFold(c.Nickname, s.to) || strings.EqualFold(c.Name, s.to)) {
			id = c.PeerID
			break
		}
	}
	for _, p := range peers {
		if id == "" && (p.PeerID == s.to || strings.EqualFold(p.Name, s.to)) {
			id = p.PeerID
		}
		if p.PeerID == id {
			s.presence = s.presenceLine(p)
		}
	}
	for _, m := range recent {
		if id == "" && m.Room == "" {
			id = m.From
			if m.Direction == "out" {
				id = m.To
			}
		}
	}
	return id
}

// belongs reports whether a message is part of this chat: every message without TO;
// with TO a peer, the direct messages with that peer; with TO a '#room', the room's.
func (s *chatSession) belongs(m *api.Message) bool {
	switch {
	case s.to == "":
		return true
	case strings.HasPrefix(s.to, "#"):
		name := strings.TrimPrefix(s.to, "#")
		return m.Room != "" && (m.RoomName == name || strings.HasPrefix(m.Room, strings.ToLower(name)))
	case m.Room != "":
		return false
	case s.peer != "":
		return m.From == s.peer || m.To == s.peer
	}
	return m.From == s.to || strings.EqualFold(m.FromName, s.to)
}

// show handles one event of the stream.
func (s *chatSession) show(e api.Event) error {
	if line, ok := s.offers.announce(e); ok {
		s.scr.Print(line)
		return nil
	}
	switch {
	case e.Message != nil && e.Type == api.EventMessage && e.Message.Direction == "in" && s.belongs(e.Message):
		if s.showMessage(*e.Message) {
			s.markRead()
		}
	case e.Message != nil && e.Type == api.EventState && e.Message.Direction == "out":
		s.noteState(e.Message.ID, e.Message.State)
	case e.Peer != nil && e.Type == api.EventPeer && s.peer != "" && e.Peer.PeerID == s.peer:
		s.notePresence(*e.Peer)
	}
	return nil
}

// showRecent prints the messages the chat opens on, outgoing ones with their state.
func (s *chatSession) showRecent(ctx context.Context, msgs []api.Message) {
	read := false
	for _, m := range msgs {
		if m.Direction == "out" {
			s.seenOnly(m)
			s.scr.Print(chatLine(m, time.Now()) + " (" + m.State + ")")
			continue
		}
		read = s.showMessage(m) || read
	}
	if read {
		s.markRead()
	}
}

// seenOnly records m as shown and returns false if it already was.
func (s *chatSession) seenOnly(m api.Message) bool {
	key := cmpOr(m.Key, m.From+"/"+m.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[key] {
		return false
	}
	s.seen[key] = true
	if m.SentAt.After(s.last) {
		s.last = m.SentAt
	}
	return true
}

// showMessage prints an incoming message unless it was shown already.
func (s *chatSession) showMessage(m api.Message) bool {
	if !s.seenOnly(m) {
		return false
	}
	s.scr.Print(chatLine(m, time.Now()))
	return true
}

// markRead tells the node the user has seen the conversation: the sender sees "read".
func (s *chatSession) markRead() {
	if s.to == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.client().MarkRead(ctx, s.to)
}

// catchUp shows what arrived while the event stream was not open (before it first
// opened, or while the node restarted), and the states that changed meanwhile.
func (s *chatSession) catchUp(ctx context.Context) {
	s.mu.Lock()
	since := s.last
	s.mu.Unlock()
	msgs, err := s.client().History(ctx, api.HistoryQuery{Peer: s.to, Since: since, Limit: 100})
	if err != nil {
		if ctx.Err() == nil {
			s.scr.Error("catch up on messages: " + err.Error())
		}
		return
	}
	read := false
	for _, m := range msgs {
		switch {
		case m.Direction == "out":
			s.noteState(m.ID, m.State)
		case s.belongs(&m):
			read = s.showMessage(m) || read
		}
	}
	if read {
		s.markRead()
	}
}

// watch follows the event stream; when the node goes away it says so, reconnects to
// the node of the same home when it is back, and catches up.
func (s *chatSession) watch(ctx context.Context) {
	for {
		err := s.client().EventsOpened(ctx, func() { s.opened(ctx) }, s.show)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		first := !s.lost
		s.lost = true
		s.mu.Unlock()
		if first {
			s.scr.Print("* lost the node (" + err.Error() + "); reconnecting… (Ctrl-D leaves)")
		}
		if !s.reconnect(ctx) {
			return
		}
	}
}

// opened runs when the event stream is open: after a reconnect it says so; then it
// catches up on what the stream did not carry.
func (s *chatSession) opened(ctx context.Context) {
	s.mu.Lock()
	back := s.lost
	s.lost = false
	s.mu.Unlock()
	if back {
		s.scr.Print("* reconnected")
		s.refreshPresence(ctx)
	}
	s.catchUp(ctx)
}

// refreshPresence shows the peer's presence as the node has it now (it may have
// changed while the stream was not open).
func (s *chatSession) refreshPresence(ctx context.Context) {
	if s.peer == "" {
		return
	}
	peers, err := s.client().Peers(ctx)
	if err != nil {
		return
	}
	for _, p := range peers {
		if p.PeerID == s.peer {
			s.notePresence(p)
		}
	}
}

// reconnect polls for the node of the chat's home (its API address and token may have
// changed) until it answers or ctx ends.
func (s *chatSession) reconnect(ctx context.Context) bool {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		cl, err := client.New(s.home)
		if err != nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = cl.Status(sctx)
		cancel()
		if err == nil {
			s.mu.Lock()
			s.cl = cl
			s.mu.Unlock()
			return true
		}
	}
}

// sendAll sends the typed lines in order until lines is closed.
func (s *chatSession) sendAll(ctx context.Context, lines <-chan string) {
	for line := range lines {
		if ctx.Err() == nil {
			s.sendLine(ctx, strings.TrimSpace(line))
		}
	}
}

func (s *chatSession) sendLine(ctx context.Context, line string) {
	if line == "" {
		return
	}
	to, text := s.to, line
	if to == "" {
		var ok bool
		to, text, ok = strings.Cut(strings.TrimPrefix(line, "@"), " ")
		if !strings.HasPrefix(line, "@") || !ok {
			s.scr.Error("to send, start the line with @NAME (or run `parley chat NAME`)")
			return
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := s.client().Send(sctx, to, text)
	switch {
	case errors.Is(err, context.Canceled):
	case errors.Is(err, client.ErrNotRunning):
		s.scr.Error("not sent, the node is not running: " + clip(text) + " (type it again once reconnected)")
	case err != nil:
		s.scr.Error(err.Error())
	default:
		s.noteSent(res.Message.ID, text, res.Message.State)
		if res.Error != "" {
			s.scr.Error("not delivered now: " + res.Error)
		}
	}
}

// stateRank orders a sent message's states; a state is shown only if it ranks above
// the one shown before (events and the send's answer may come in either order).
var stateRank = map[string]int{api.StateSent: 1, api.StateQueued: 2, api.StateFailed: 3, api.StateDelivered: 4, api.StateRead: 5}

// noteSent records a line sent from this chat and shows its state.
func (s *chatSession) noteSent(id, text, state string) {
	s.mu.Lock()
	s.mine[id] = text
	early := s.states[id]
	delete(s.states, id)
	s.mu.Unlock()
	s.noteState(id, state)
	s.noteState(id, early)
}

// noteState shows a new state of a line sent from this chat; for other messages it
// keeps the newest state, in case the line's send has not answered yet.
func (s *chatSession) noteState(id, state string) {
	s.mu.Lock()
	text, mine := s.mine[id]
	if !mine {
		if stateRank[state] > stateRank[s.states[id]] && len(s.states) < 1000 {
			s.states[id] = state
		}
		s.mu.Unlock()
		return
	}
	if stateRank[state] <= stateRank[s.shown[id]] {
		s.mu.Unlock()
		return
	}
	s.shown[id] = state
	s.mu.Unlock()
	s.scr.Print(stateLine(state, text))
}

// stateLine is how a sent line's state is shown: "  ✓ delivered: text".
func stateLine(state, text string) string {
	mark := map[string]string{api.StateQueued: "…", api.StateDelivered: "✓", api.StateRead: "✓✓", api.StateFailed: "✗"}[state]
	line := fmt.Sprintf("  %s %s: %s", cmpOr(mark, "·"), state, clip(text))
	if state == api.StateQueued {
		line += " (sent when they are back online)"
	}
	return line
}

// notePresence shows a change of the peer's presence or status.
func (s *chatSession) notePresence(p api.Peer) {
	line := s.presenceLine(p)
	s.mu.Lock()
	changed := line != s.presence
	s.presence = line
	s.mu.Unlock()
	if changed {
		s.scr.Print("* " + line)
	}
}

// presenceLine is "Bob is away: at lunch".
func (s *chatSession) presenceLine(p api.Peer) string {
	line := orDefault(p.Name, visible(s.to)) + " is " + p.Presence
	if p.Status != "" && p.Presence != api.PresenceOffline {
		line += ": " + visible(p.Status)
	}
	return line
}

// chatLine renders a message as a chat line: "[15:04] Ann: text", with the date for
// messages older than today; outgoing ones are "me → Bob".
func chatLine(m api.Message, now time.Time) string {
	who := orDefault(m.FromName, shortID(m.From))
	if m.Direction == "out" {
		who = "me → " + orDefault(m.ToName, shortID(m.To))
		if m.Room != "" {
			who = "me"
		}
	}
	if m.Room != "" {
		who = "#" + visible(m.RoomName) + " " + who
	}
	return fmt.Sprintf("[%s] %s: %s", stamp(m.SentAt, now), who, visibleText(m.Text))
}

// stamp is t's local time of day if t is today (by now), else its date and time.
func stamp(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// clip shortens text to one line of at most 60 characters, made visible.
func clip(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if r := []rune(text); len(r) > 60 {
		text = string(r[:59]) + "…"
	}
	return visible(text)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
