package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseLogLine(t *testing.T) {
	line := `time=2026-03-01T10:11:12.345+01:00 level=INFO msg="found peer" via=mdns name="a b" peer=12D3KooWabc`
	l, err := ParseLogLine(line)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 3, 1, 9, 11, 12, 345e6, time.UTC)
	if !l.Time.Equal(want) || l.Msg != "found peer" || l.Attrs["via"] != "mdns" ||
		l.Attrs["name"] != "a b" || l.Attrs["peer"] != "12D3KooWabc" {
		t.Errorf("ParseLogLine = %+v", l)
	}
	if _, err := ParseLogLine("panic: oops"); err == nil {
		t.Error("ParseLogLine accepted a non-slog line")
	}
}

func TestParseStatCPU(t *testing.T) {
	stat := "42 (par ley) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1 2 3\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("parseStatCPU = %v, want %v (300 ticks)", got, want)
	}
}

func TestOwnProcessFigures(t *testing.T) {
	rss, err := RSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Errorf("RSS(self) = %d, %v", rss, err)
	}
	if _, err := CPUTime(os.Getpid()); err != nil {
		t.Errorf("CPUTime(self): %v", err)
	}
}
