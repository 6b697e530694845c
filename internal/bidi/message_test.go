package bidi

import (
	"errors"
	"testing"
)

func TestDecodeMessage(t *testing.T) {
	m, err := decodeMessage([]byte(`{"type":"success","id":3,"result":{"context":"abc"}}`))
	if err != nil || !m.isAnswer() || *m.ID != 3 || string(m.Result) != `{"context":"abc"}` {
		t.Fatalf("success: %+v, %v", m, err)
	}
	m, err = decodeMessage([]byte(`{"type":"error","id":4,"error":"no such element","message":"gone"}`))
	if err != nil || !m.isAnswer() {
		t.Fatalf("error: %+v, %v", m, err)
	}
	var ce *CommandError
	if _, err := m.answer("input.setFiles"); !errors.As(err, &ce) || err.Error() != "bidi: input.setFiles: no such element: gone" {
		t.Fatalf("answer to an error: %v", err)
	}
	m, err = decodeMessage([]byte(`{"type":"event","method":"log.entryAdded","params":{"type":"javascript","level":"error","text":"boom",
		"source":{"context":"tab1"},"stackTrace":{"callFrames":[{"url":"http://x/app.js","lineNumber":9}]}}}`))
	if err != nil || m.isAnswer() {
		t.Fatalf("event: %+v, %v", m, err)
	}
	if e, err := logEntry(m.Params); err != nil || e != (LogEntry{"javascript", "error", "boom", "tab1", "http://x/app.js", 10}) {
		t.Fatalf("log entry: %+v, %v", e, err)
	}
	for _, bad := range []string{``, `[]`, `{"type":"success"}`, `{"type":"success","id":1,"result":3}`,
		`{"type":"error","id":1}`, `{"type":"event"}`, `{"type":"other","id":1}`} {
		if m, err := decodeMessage([]byte(bad)); err == nil {
			t.Errorf("decodeMessage(%q) = %+v, want an error", bad, m)
		}
	}
}

func TestValueGo(t *testing.T) {
	for _, c := range []struct {
		v    Value
		want any
	}{
		{Value{Type: "boolean", Value: []byte("true")}, true},
		{Value{Type: "string", Value: []byte(`"hi"`)}, "hi"},
		{Value{Type: "number", Value: []byte("2.5")}, 2.5},
		{Value{Type: "number", Value: []byte(`"NaN"`)}, "NaN"},
		{Value{Type: "null"}, nil},
		{Value{Type: "node", SharedID: "n1"}, "<node>"},
	} {
		if got := c.v.Go(); got != c.want {
			t.Errorf("%+v.Go() = %#v, want %#v", c.v, got, c.want)
		}
	}
}

func TestStderrWatch(t *testing.T) {
	w := newStderrWatch()
	w.Write([]byte("*** You are running in headless mode.\nWebDriver BiDi listen"))
	w.Write([]byte("ing on ws://127.0.0.1:39907\nmore\n"))
	if url := <-w.url; url != "ws://127.0.0.1:39907" {
		t.Fatalf("url %q", url)
	}
}

// FuzzDecodeMessage: any bytes decode to a well-formed message or an error, never a panic.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"type":"success","id":1,"result":{"sessionId":"s"}}`))
	f.Add([]byte(`{"type":"error","id":null,"error":"invalid argument","message":"bad"}`))
	f.Add([]byte(`{"type":"event","method":"log.entryAdded","params":{"level":"error","text":"x","source":{"context":"c"}}}`))
	f.Add([]byte(`{"type":"success","id":18446744073709551615,"result":{"type":"success","result":{"type":"number","value":"-0"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMessage(data)
		if err != nil {
			return
		}
		switch {
		case m.Type == "success" && (m.ID == nil || len(m.Result) == 0):
			t.Fatalf("success without id or result: %+v", m)
		case m.Type == "event" && m.Method == "":
			t.Fatalf("event without method: %+v", m)
		case m.Type == "error" && m.Error == "":
			t.Fatalf("error without code: %+v", m)
		}
		if m.isAnswer() {
			m.answer("fuzz")
		} else if m.Method == "log.entryAdded" {
			logEntry(m.Params)
		}
	})
}
