package main

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseAge: an age the user types (--retain, --since) is never negative, and a
// number of days reads as exactly that many days, or is refused; it never wraps around
// into a shorter age (which would purge recent messages).
func FuzzParseAge(f *testing.F) {
	for _, s := range []string{"90d", "36h", "2160h", "0d", "-1d", "1.5h", "d", "106752d", "9223372036854775807d", "1e9h", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseAge(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("parseAge(%q) = %v, negative", s, d)
		}
		if days, ok := strings.CutSuffix(s, "d"); ok {
			n, _ := strconv.Atoi(days)
			if d/(24*time.Hour) != time.Duration(n) {
				t.Fatalf("parseAge(%q) = %v, not %d days", s, d, n)
			}
		}
	})
}

// FuzzParseWhen: whatever it accepts is a time, never a panic.
func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"2026-11-21T15:04:05Z", "2026-11-21", "36h", "90d", "2026-02-30", "", "yesterday"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parseWhen(s)
	})
}

// FuzzNormalizeArgs: any command line is either refused or rewritten into one that
// reads the same when rewritten again (the rewriting is a normal form), and never panics.
func FuzzNormalizeArgs(f *testing.F) {
	for _, s := range []string{
		"send bob hello --json", "send bob -- --json is a flag", "up --home /h --no-mdns",
		"contacts add bob --name Bob --group sales", "history bob --limit -1", "send bob -",
		"contacts help ls", "--home=/h room ls --json", "sned", "transfers accept 12 --json", "-- send",
	} {
		f.Add(s)
	}
	app := testApp()
	f.Fuzz(func(t *testing.T, line string) {
		args := append([]string{"parley"}, strings.Split(line, " ")...)
		p, err := normalizeArgs(app, args)
		if err != nil {
			return
		}
		again, err := normalizeArgs(app, p.args)
		if err != nil || !slices.Equal(again.args, p.args) {
			t.Fatalf("%q → %q → %q, %v", args, p.args, again.args, err)
		}
	})
}
