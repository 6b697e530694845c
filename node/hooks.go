package node

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/parley-im/parley/api"
)

// hookTimeout bounds one run of the --on-message command.
const hookTimeout = time.Minute

// hookQueue is how many incoming messages may wait for the command; past that they are
// dropped from the hook (never from the archive) with a warning.
const hookQueue = 256

// messageHook runs a command for every incoming message, one at a time, in arrival
// order: `sh -c CMD` with the message in the environment (PARLEY_FROM, PARLEY_FROM_NAME,
// PARLEY_TEXT, PARLEY_MESSAGE_ID, PARLEY_SENT_AT, PARLEY_HOME) and the text on stdin.
type messageHook struct {
	cmd  string
	home string
	log  *slog.Logger
	ch   chan api.Message
}

func newMessageHook(cmd, home string, log *slog.Logger) *messageHook {
	if cmd == "" {
		return nil
	}
	return &messageHook{cmd: cmd, home: home, log: log, ch: make(chan api.Message, hookQueue)}
}

// onMessage hands m to the hook without blocking the caller.
func (h *messageHook) onMessage(m api.Message) {
	if h == nil {
		return
	}
	select {
	case h.ch <- m:
	default:
		h.log.Warn("on-message command is behind; skipping it for a message", "id", m.ID)
	}
}

// run executes the command for each message until ctx ends.
func (h *messageHook) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-h.ch:
			h.runOne(ctx, m)
		}
	}
}

func (h *messageHook) runOne(ctx context.Context, m api.Message) {
	ctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", h.cmd)
	cmd.Env = append(os.Environ(),
		"PARLEY_FROM="+m.From, "PARLEY_FROM_NAME="+m.FromName, "PARLEY_TEXT="+m.Text,
		"PARLEY_MESSAGE_ID="+m.ID, "PARLEY_SENT_AT="+m.SentAt.Format(time.RFC3339Nano), "PARLEY_HOME="+h.home)
	cmd.Stdin = strings.NewReader(m.Text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.log.Warn("on-message command failed", "id", m.ID, "err", err, "output", truncate(string(out), 500))
		return
	}
	h.log.Debug("on-message command ran", "id", m.ID)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
