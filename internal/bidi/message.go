package bidi

import (
	"encoding/json"
	"errors"
	"fmt"
)

// maxMessage caps one websocket message from the browser; screenshots are the largest.
const maxMessage = 64 << 20

// command is one message to the browser.
type command struct {
	ID     uint64 `json:"id"`
	Method string `json:"method"`
	Params any    `json:"params"`
}

// message is one message from the browser: the answer to a command (type "success"
// or "error") or an event.
type message struct {
	Type       string          `json:"type"`
	ID         *uint64         `json:"id"`
	Result     json.RawMessage `json:"result"`
	Error      string          `json:"error"`
	Message    string          `json:"message"`
	Method     string          `json:"method"`
	Params     json.RawMessage `json:"params"`
	Stacktrace string          `json:"stacktrace"`
}

// isAnswer reports whether m answers the command with m.ID.
func (m *message) isAnswer() bool { return m.Type != "event" && m.ID != nil }

// decodeMessage turns one websocket message into an answer or an event, or says why
// it is neither. An error without an id (the browser could not parse a command) is
// returned as a message with a nil ID.
func decodeMessage(data []byte) (*message, error) {
	var m message
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("bidi: undecodable message: %w", err)
	}
	switch m.Type {
	case "success":
		if m.ID == nil {
			return nil, errors.New("bidi: success message without an id")
		}
		if len(m.Result) == 0 || m.Result[0] != '{' {
			return nil, fmt.Errorf("bidi: success message %d without a result object", *m.ID)
		}
	case "error":
		if m.Error == "" {
			return nil, errors.New("bidi: error message without an error code")
		}
	case "event":
		if m.Method == "" {
			return nil, errors.New("bidi: event without a method")
		}
	default:
		return nil, fmt.Errorf("bidi: message of unknown type %q", m.Type)
	}
	return &m, nil
}

// CommandError is the browser's refusal of a command.
type CommandError struct {
	Method  string // the command, e.g. "input.setFiles"
	Code    string // the BiDi error code, e.g. "no such element"
	Message string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("bidi: %s: %s: %s", e.Method, e.Code, e.Message)
}

// answer turns the answer to a command into its result or a *CommandError.
func (m *message) answer(method string) (json.RawMessage, error) {
	if m.Type == "error" {
		return nil, &CommandError{Method: method, Code: m.Error, Message: m.Message}
	}
	return m.Result, nil
}
