package bidi

import (
	"encoding/json"
	"fmt"
)

// Value is a script result as the browser serializes it (a BiDi remote value).
// Nodes carry a SharedID that commands such as input.setFiles take.
type Value struct {
	Type     string          `json:"type"`
	Value    json.RawMessage `json:"value,omitempty"`
	SharedID string          `json:"sharedId,omitempty"`
	Handle   string          `json:"handle,omitempty"`
}

// Go returns the value as a Go bool, string, float64 or nil; other types (objects,
// nodes) come back as their BiDi type name in angle brackets.
func (v Value) Go() any {
	switch v.Type {
	case "undefined", "null":
		return nil
	case "boolean":
		var b bool
		json.Unmarshal(v.Value, &b)
		return b
	case "string":
		var s string
		json.Unmarshal(v.Value, &s)
		return s
	case "number":
		return v.number()
	}
	return "<" + v.Type + ">"
}

// number decodes a number, which BiDi sends as JSON or as "NaN", "Infinity", "-0"….
func (v Value) number() any {
	var f float64
	if json.Unmarshal(v.Value, &f) == nil {
		return f
	}
	var special string
	json.Unmarshal(v.Value, &special)
	return special
}

// Bool is the value if it is a boolean, else false.
func (v Value) Bool() bool {
	b, _ := v.Go().(bool)
	return b
}

// String is the value as text: a string as is, others formatted.
func (v Value) String() string {
	return fmt.Sprint(v.Go())
}

// ScriptError is an exception thrown by evaluated script.
type ScriptError struct {
	Text string
}

func (e *ScriptError) Error() string { return "bidi: script threw: " + e.Text }

// LogEntry is one log.entryAdded event: a console message or an uncaught script error.
type LogEntry struct {
	Type    string // "console" or "javascript"
	Level   string // "debug", "info", "warn" or "error"
	Text    string
	Context string // the browsing context (tab) it came from
	URL     string // where the first stack frame is, if any
	Line    int
}

// logEntry decodes the params of a log.entryAdded event.
func logEntry(params json.RawMessage) (LogEntry, error) {
	var p struct {
		Type   string `json:"type"`
		Level  string `json:"level"`
		Text   string `json:"text"`
		Source struct {
			Context string `json:"context"`
		} `json:"source"`
		StackTrace struct {
			CallFrames []struct {
				URL        string `json:"url"`
				LineNumber int    `json:"lineNumber"`
			} `json:"callFrames"`
		} `json:"stackTrace"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return LogEntry{}, fmt.Errorf("bidi: log entry: %w", err)
	}
	e := LogEntry{Type: p.Type, Level: p.Level, Text: p.Text, Context: p.Source.Context}
	if f := p.StackTrace.CallFrames; len(f) > 0 {
		e.URL, e.Line = f[0].URL, f[0].LineNumber+1
	}
	return e, nil
}
