package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
)

func chatCommand() *cli.Command {
	return &cli.Command{
		Name:      "chat",
		Usage:     "interactive line chat: type to send, incoming messages appear as they arrive",
		ArgsUsage: "[TO]",
		Description: "With TO (a peer, or '#ROOM'), every line you type goes to TO and only TO's messages are shown.\n" +
			"Without TO, all incoming messages are shown and a line `@NAME text` sends text to NAME.",
		Action: runChat,
	}
}

// chatSession prints incoming messages and sends typed lines. Output is serialised so
// incoming and outgoing lines never interleave mid-line.
type chatSession struct {
	cl   *client.Client
	to   string
	self string
	mu   sync.Mutex
	out  io.Writer
	errw io.Writer

	offers offerAnnouncer // incoming file offers, announced once each
}

func runChat(c *cli.Context) error {
	cl, err := connect(c)
	if err != nil {
		return err
	}
	st, err := cl.Status(c.Context)
	if err != nil {
		return err
	}
	s := &chatSession{cl: cl, to: c.Args().First(), self: st.PeerID, out: c.App.Writer, errw: c.App.ErrWriter}
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	events := make(chan error, 1)
	go func() { events <- cl.Events(ctx, s.show) }()
	s.println(s.banner())
	typed := s.readLines(ctx, c.App.Reader)
	select {
	case err := <-events:
		return err
	case <-typed:
		cancel()
		<-events
		return nil
	}
}

func (s *chatSession) banner() string {
	if s.to != "" {
		return fmt.Sprintf("Chatting with %s. Type a message and press Enter; Ctrl-D to leave.", s.to)
	}
	return "Showing all incoming messages. Send with `@NAME text`; Ctrl-D to leave."
}

// show prints incoming messages that belong to this chat, and every file offer that
// waits for the user.
func (s *chatSession) show(e api.Event) error {
	if line, ok := s.offers.announce(e); ok {
		s.println(line)
		return nil
	}
	if e.Type != api.EventMessage || e.Message == nil || e.Message.Direction != "in" {
		return nil
	}
	m := e.Message
	if !s.belongs(m) {
		return nil
	}
	who := orDefault(m.FromName, shortID(m.From))
	if m.Room != "" {
		who = "#" + visible(m.RoomName) + " " + who
	}
	s.println(fmt.Sprintf("[%s] %s: %s", m.SentAt.Local().Format("15:04"), who, visibleText(m.Text)))
	if s.to != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.cl.MarkRead(ctx, s.to) // shown on screen: the sender sees "read"
		cancel()
	}
	return nil
}

// belongs reports whether an incoming message is shown in this chat: every message
// without TO; with TO a peer, that peer's direct messages; with TO a '#room', the room's.
func (s *chatSession) belongs(m *api.Message) bool {
	switch {
	case s.to == "":
		return true
	case strings.HasPrefix(s.to, "#"):
		name := strings.TrimPrefix(s.to, "#")
		return m.Room != "" && (m.RoomName == name || strings.HasPrefix(m.Room, strings.ToLower(name)))
	}
	return m.Room == "" && (m.From == s.to || strings.EqualFold(m.FromName, s.to))
}

// readLines sends each typed line; the returned channel closes at end of input.
func (s *chatSession) readLines(ctx context.Context, in io.Reader) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(in)
		for sc.Scan() && ctx.Err() == nil {
			s.sendLine(ctx, strings.TrimSpace(sc.Text()))
		}
	}()
	return done
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
			s.printErr("to send, start the line with @NAME (or run `parley chat NAME`)")
			return
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := s.cl.Send(sctx, to, text)
	switch {
	case errors.Is(err, context.Canceled):
	case err != nil:
		s.printErr(err.Error())
	case res.Error != "":
		s.printErr("not delivered: " + res.Error)
	}
}

func (s *chatSession) println(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintln(s.out, line)
}

func (s *chatSession) printErr(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.errw, "! %s\n", msg)
}
