package bench

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// LogLine is one line of slog's text handler: time=… level=… msg=… key=value….
type LogLine struct {
	Time  time.Time
	Msg   string
	Attrs map[string]string
}

// ParseLogLine parses a slog text line; values may be quoted Go-style.
func ParseLogLine(s string) (LogLine, error) {
	l := LogLine{Attrs: map[string]string{}}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimLeft(s, " ") {
		key, rest, ok := strings.Cut(s, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \"") {
			return l, errors.New("not a slog text line")
		}
		val, rest, err := cutValue(rest)
		if err != nil {
			return l, err
		}
		l.Attrs[key] = val
		s = rest
	}
	l.Msg = l.Attrs["msg"]
	t, err := time.Parse(time.RFC3339Nano, l.Attrs["time"])
	if err != nil {
		return l, errors.New("slog line without a time")
	}
	l.Time = t
	return l, nil
}

// cutValue splits off one value, quoted or up to the next space.
func cutValue(s string) (val, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", "", err
		}
		val, err = strconv.Unquote(q)
		return val, s[len(q):], err
	}
	val, rest, _ = strings.Cut(s, " ")
	return val, rest, nil
}
