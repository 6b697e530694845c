package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// examples are shown at the end of each command's help, by command path.
// TestHelpHasExamples fails for a command without any.
var examples = map[string][]string{
	"init":             {`parley init --name "Ann (front desk)"`, "PARLEY_PASSPHRASE=... parley init --passphrase"},
	"up":               {"parley up", "parley up --home ~/bob-parley --name Bob", "parley up --rendezvous /ip4/10.0.0.5/tcp/4001/p2p/12D3KooW...", "parley up --mailbox --mailbox-ttl 168h", "parley up --mailbox-peer /ip4/10.0.0.5/tcp/4001/p2p/12D3KooW..."},
	"id":               {"parley id", "parley id --json"},
	"peers":            {"parley peers", "parley peers --json"},
	"send":             {`parley send Bob "lunch at 12?"`, `parley send '#ops' "deploy done" --json`, "make 2>&1 | tail -5 | parley send Bob -", "parley send Bob -- --json is not a flag here"},
	"history":          {"parley history Bob --limit 20", "parley history --search printer --json", "parley history --export archive.jsonl --since 2026-01-01"},
	"chat":             {"parley chat Bob", "parley chat '#ops'", "parley chat"},
	"send-file":        {"parley send-file Bob report.pdf", "parley send-file '#ops' ./photos"},
	"transfers":        {"parley transfers", "parley transfers --json"},
	"transfers accept": {"parley transfers accept 2561"},
	"transfers cancel": {"parley transfers cancel 2561"},
	"status":           {"parley status", `parley status away "back at 2"`, "parley status invisible"},
	"contacts ls":      {"parley contacts ls", "parley contacts list --json"},
	"contacts add":     {"parley contacts add Bob --name Bobby --group sales"},
	"contacts rm":      {"parley contacts rm Bobby"},
	"contacts block":   {"parley contacts block 12D3KooW..."},
	"contacts unblock": {"parley contacts unblock Bob"},
	"contacts verify":  {"parley contacts verify Bob", "parley contacts verify Bob --yes"},
	"room create":      {"parley room create ops", "parley room create news --announce"},
	"room invite":      {"parley room invite ops Bob"},
	"room remove":      {"parley room remove ops Bob"},
	"room join":        {"parley room join 3f2a9c01"},
	"room decline":     {"parley room decline 3f2a9c01"},
	"room leave":       {"parley room leave ops"},
	"room ls":          {"parley room ls", "parley room list --json"},
	"completion":       {"source <(parley completion bash)", "source <(parley completion zsh)", "parley completion fish > ~/.config/fish/completions/parley.fish"},
	"rendezvous serve": {"parley --home /srv/parley-rv rendezvous serve", "parley rendezvous serve --relay --json", "parley rendezvous serve --mailbox --mailbox-disk 4GiB"},
	"mailbox":          {"parley mailbox status"},
	"mailbox status":   {"parley mailbox status", "parley mailbox status --json"},
	"nat":              {"parley nat --stun 10.0.0.5:3478 --stun 10.0.0.6:3478"},
	"network-key new":  {"parley network-key new team.psk"},
	"open":             {"parley open", "parley open --no-browser --json"},
	"rendezvous":       {"parley rendezvous serve"},
	"web":              {"parley web logout"},
	"web logout":       {"parley web logout", "parley web logout --json"},
	"network-key":      {"parley network-key new team.psk"},
	"contacts":         {"parley contacts ls"},
	"room":             {"parley room ls"},
	"autostart":        {"parley autostart on"},
	"autostart on":     {"parley autostart on", "parley autostart on --rendezvous /ip4/10.0.0.5/tcp/4001/p2p/12D3KooW... --accept-files ask"},
	"autostart off":    {"parley autostart off"},
	"autostart status": {"parley autostart status", "parley autostart status --json"},
}

// addExamples appends "Examples:" to the description of every command that has some.
func addExamples(cmds []*cli.Command, parent string) {
	for _, c := range cmds {
		path := strings.TrimSpace(parent + " " + c.Name)
		if ex := examples[path]; len(ex) > 0 {
			var b strings.Builder
			if c.Description != "" {
				b.WriteString(c.Description + "\n\n")
			}
			b.WriteString("Examples:\n")
			for _, e := range ex {
				fmt.Fprintf(&b, "  %s\n", e)
			}
			c.Description = strings.TrimSuffix(b.String(), "\n")
		}
		addExamples(c.Subcommands, path)
	}
}

// setUsageErrors makes every command, however deep, report a flag it cannot read with
// exit status 2 (urfave/cli passes the app's handler to no command).
func setUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = onUsageError
		}
		setUsageErrors(c.Subcommands)
	}
}

// plural is "1 member", "2 members".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
