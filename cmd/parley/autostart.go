package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// autostartState is what `parley autostart status` reports.
type autostartState struct {
	Method    string `json:"method"`            // "systemd user unit", "LaunchAgent", "Run registry value"
	Path      string `json:"path"`              // the unit, the plist, or the registry value
	Installed bool   `json:"installed"`         // the file (value) exists
	Enabled   string `json:"enabled,omitempty"` // systemd's is-enabled answer, or "unknown"
	Command   string `json:"command,omitempty"` // the command it starts
}

// autostarter is how one OS starts a program at login.
type autostarter interface {
	install(ctx context.Context, argv []string) (note string, err error)
	remove(ctx context.Context) (note string, err error)
	status(ctx context.Context) (autostartState, error)
}

// autostartRun runs a service manager command (systemctl, launchctl); tests replace it.
var autostartRun = func(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

func autostartCommand() *cli.Command {
	on := &cli.Command{
		Name:      "on",
		Usage:     "start `parley up` (with the flags given here) whenever you log in",
		ArgsUsage: "[flags of parley up]",
		Description: "Linux: a systemd user unit (~/.config/systemd/user/parley.service), enabled with\n" +
			"systemctl --user. macOS: a LaunchAgent (~/Library/LaunchAgents/im.parley.node.plist).\n" +
			"Windows: the Parley value under HKCU\\...\\CurrentVersion\\Run. The node gets this home\n" +
			"(--home) and the flags of `parley up` given here; running `on` again replaces them.\n" +
			"A passphrase-sealed identity needs PARLEY_PASSPHRASE at login, which autostart does not store.",
		Flags: append(upCommand().Flags, jsonFlag),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError("autostart on takes flags of `parley up`, not %q", c.Args().First())
			}
			argv, err := autostartArgv(c)
			if err != nil {
				return err
			}
			a := newAutostarter(homeOf(c))
			note, err := a.install(c.Context, argv)
			if err != nil {
				return err
			}
			return autostartDone(c, a, note)
		},
	}
	off := &cli.Command{
		Name:  "off",
		Usage: "stop starting parley at login (a node running now keeps running)",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			a := newAutostarter(homeOf(c))
			note, err := a.remove(c.Context)
			if err != nil {
				return err
			}
			return autostartDone(c, a, note)
		},
	}
	status := &cli.Command{
		Name:  "status",
		Usage: "say whether parley starts at login, and with which command",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			st, err := newAutostarter(homeOf(c)).status(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return json.NewEncoder(c.App.Writer).Encode(st)
			}
			printAutostart(c.App.Writer, st)
			return nil
		},
	}
	return &cli.Command{
		Name:            "autostart",
		Usage:           "start the node at login: parley autostart on|off|status",
		Subcommands:     []*cli.Command{on, off, status},
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError("unknown command \"autostart %s\": use on, off or status", c.Args().First())
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

func printAutostart(w interface{ Write([]byte) (int, error) }, st autostartState) {
	if !st.Installed {
		fmt.Fprintf(w, "off: no %s at %s (turn it on with `parley autostart on`)\n", st.Method, st.Path)
		return
	}
	fmt.Fprintf(w, "on: %s %s\n", st.Method, st.Path)
	if st.Enabled != "" {
		fmt.Fprintf(w, "enabled: %s\n", st.Enabled)
	}
	if st.Command != "" {
		fmt.Fprintf(w, "command: %s\n", st.Command)
	}
}

// autostartArgv is the command line the OS runs at login: this executable, the home,
// `up`, and every flag of `up` the user set on `autostart on`.
// autostartDone reports what `on` or `off` did: the note, or with --json the note and
// the state it left.
func autostartDone(c *cli.Context, a autostarter, note string) error {
	if !c.Bool("json") {
		fmt.Fprintln(c.App.Writer, note)
		return nil
	}
	st, err := a.status(c.Context)
	if err != nil {
		return err
	}
	return json.NewEncoder(c.App.Writer).Encode(struct {
		Note string `json:"note"`
		autostartState
	}{note, st})
}

func autostartArgv(c *cli.Context) ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the parley executable: %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	argv := []string{exe, "--home", homeOf(c), "up"}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if !c.IsSet(name) || name == "json" { // --json is for this command's own output
			continue
		}
		switch f.(type) {
		case *cli.BoolFlag:
			argv = append(argv, "--"+name+"="+strconv.FormatBool(c.Bool(name)))
		case *cli.StringSliceFlag:
			for _, v := range c.StringSlice(name) {
				argv = append(argv, "--"+name, v)
			}
		case *cli.DurationFlag:
			argv = append(argv, "--"+name, c.Duration(name).String())
		case *cli.Float64Flag:
			argv = append(argv, "--"+name, strconv.FormatFloat(c.Float64(name), 'g', -1, 64))
		case *cli.StringFlag:
			v := c.String(name)
			if name == "downloads" || name == "network-key" {
				v, _ = filepath.Abs(v) // the service starts in another working directory
			}
			argv = append(argv, "--"+name, v)
		default:
			return nil, fmt.Errorf("autostart cannot pass --%s on yet: give it in a config the node reads, or start parley up yourself", name)
		}
	}
	return argv, nil
}

// newAutostarter picks this OS's way; home names the log file of the LaunchAgent.
func newAutostarter(home string) autostarter {
	switch runtime.GOOS {
	case "darwin":
		return &launchAgent{dir: launchAgentsDir(), home: home}
	case "windows":
		return newRunKey()
	default:
		return &systemdUnit{dir: systemdUserDir()}
	}
}

// --- Linux (and other Unix): a systemd user unit ---

const unitName = "parley.service"

type systemdUnit struct{ dir string }

// systemdUserDir is $XDG_CONFIG_HOME/systemd/user, or ~/.config/systemd/user.
func systemdUserDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = ".config"
	}
	return filepath.Join(dir, "systemd", "user")
}

// unitFile is the systemd user unit that runs argv at login.
func unitFile(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = systemdQuote(a)
	}
	return "# Written by `parley autostart on`; remove with `parley autostart off`.\n" +
		"[Unit]\nDescription=Parley messenger node\nAfter=network-online.target\nWants=network-online.target\n\n" +
		"[Service]\nExecStart=" + strings.Join(q, " ") + "\nRestart=on-failure\nRestartSec=10\n\n" +
		"[Install]\nWantedBy=default.target\n"
}

// systemdQuote double-quotes one ExecStart word: backslash and quote escaped, and %
// and $ doubled so systemd expands neither specifiers nor variables in it.
func systemdQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$", "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func (u *systemdUnit) path() string { return filepath.Join(u.dir, unitName) }

func (u *systemdUnit) install(ctx context.Context, argv []string) (string, error) {
	if err := os.MkdirAll(u.dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", u.dir, err)
	}
	if err := os.WriteFile(u.path(), []byte(unitFile(argv)), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", u.path(), err)
	}
	note := "Wrote " + u.path() + "\n"
	if out, err := systemctl(ctx, "daemon-reload"); err != nil {
		return note + "Could not reach your systemd user manager (" + out + "): it is not enabled yet.\n" +
			"Run: systemctl --user daemon-reload && systemctl --user enable --now " + unitName, nil
	}
	if out, err := systemctl(ctx, "enable", unitName); err != nil {
		return note + "systemctl --user enable " + unitName + " failed (" + out + ").\n" +
			"Run: systemctl --user enable --now " + unitName, nil
	}
	return note + "Enabled: parley starts when you log in. Start it now with: systemctl --user start " + unitName +
		"\n(for a node without a login session: loginctl enable-linger $USER)", nil
}

func (u *systemdUnit) remove(ctx context.Context) (string, error) {
	if _, err := os.Stat(u.path()); errors.Is(err, os.ErrNotExist) {
		return "autostart is already off (no " + u.path() + ")", nil
	}
	systemctl(ctx, "disable", unitName)
	if err := os.Remove(u.path()); err != nil {
		return "", fmt.Errorf("remove %s: %w", u.path(), err)
	}
	systemctl(ctx, "daemon-reload")
	return "Removed " + u.path() + ": parley no longer starts at login (a node running now keeps running: systemctl --user stop " + unitName + ")", nil
}

func (u *systemdUnit) status(ctx context.Context) (autostartState, error) {
	st := autostartState{Method: "systemd user unit", Path: u.path()}
	data, err := os.ReadFile(u.path())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read %s: %w", u.path(), err)
	}
	st.Installed = true
	for _, line := range strings.Split(string(data), "\n") {
		if cmd, ok := strings.CutPrefix(line, "ExecStart="); ok {
			st.Command = cmd
		}
	}
	st.Enabled = "unknown (systemctl --user is not reachable)"
	if out, err := systemctl(ctx, "is-enabled", unitName); err == nil || out == "disabled" {
		st.Enabled = out
	}
	return st, nil
}

// systemctl runs systemctl --user and returns its trimmed output.
func systemctl(ctx context.Context, args ...string) (string, error) {
	out, err := autostartRun(ctx, "systemctl", append([]string{"--user"}, args...)...)
	s := strings.TrimSpace(string(out))
	if err != nil && s == "" {
		s = err.Error()
	}
	return s, err
}

// --- macOS: a LaunchAgent ---

const agentLabel = "im.parley.node"

type launchAgent struct{ dir, home string }

func launchAgentsDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, "Library", "LaunchAgents")
}

// plistFile is the LaunchAgent that runs argv at login, restarts it if it fails, and
// logs to logPath.
func plistFile(argv []string, logPath string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by parley autostart on; remove with parley autostart off. -->
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + agentLabel + `</string>
	<key>ProgramArguments</key>
	<array>
`)
	for _, a := range argv {
		b.WriteString("\t\t<string>" + html.EscapeString(a) + "</string>\n")
	}
	b.WriteString(`	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>StandardOutPath</key>
	<string>` + html.EscapeString(logPath) + `</string>
	<key>StandardErrorPath</key>
	<string>` + html.EscapeString(logPath) + `</string>
</dict>
</plist>
`)
	return b.String()
}

var plistString = regexp.MustCompile(`<string>([^<]*)</string>`)

// plistCommand reads ProgramArguments back out of a plist plistFile wrote.
func plistCommand(plist string) string {
	start := strings.Index(plist, "<array>")
	end := strings.Index(plist, "</array>")
	if start < 0 || end < start {
		return ""
	}
	var args []string
	for _, m := range plistString.FindAllStringSubmatch(plist[start:end], -1) {
		args = append(args, html.UnescapeString(m[1]))
	}
	return strings.Join(args, " ")
}

func (a *launchAgent) path() string { return filepath.Join(a.dir, agentLabel+".plist") }

func (a *launchAgent) install(ctx context.Context, argv []string) (string, error) {
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", a.dir, err)
	}
	log := filepath.Join(a.home, "parley.log")
	if err := os.WriteFile(a.path(), []byte(plistFile(argv, log)), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", a.path(), err)
	}
	note := "Wrote " + a.path() + ": parley starts when you log in (log: " + log + ")."
	domain := "gui/" + strconv.Itoa(os.Getuid())
	autostartRun(ctx, "launchctl", "bootout", domain+"/"+agentLabel) // an older version of it
	if out, err := autostartRun(ctx, "launchctl", "bootstrap", domain, a.path()); err != nil {
		return note + "\nlaunchctl could not load it now (" + strings.TrimSpace(string(out)) + "): it loads at next login, or run: launchctl bootstrap " + domain + " " + a.path(), nil
	}
	return note + " Started it now.", nil
}

func (a *launchAgent) remove(ctx context.Context) (string, error) {
	if _, err := os.Stat(a.path()); errors.Is(err, os.ErrNotExist) {
		return "autostart is already off (no " + a.path() + ")", nil
	}
	autostartRun(ctx, "launchctl", "bootout", "gui/"+strconv.Itoa(os.Getuid())+"/"+agentLabel)
	if err := os.Remove(a.path()); err != nil {
		return "", fmt.Errorf("remove %s: %w", a.path(), err)
	}
	return "Removed " + a.path() + " and stopped the node it started: parley no longer starts at login", nil
}

func (a *launchAgent) status(context.Context) (autostartState, error) {
	st := autostartState{Method: "LaunchAgent", Path: a.path()}
	data, err := os.ReadFile(a.path())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read %s: %w", a.path(), err)
	}
	st.Installed, st.Command = true, plistCommand(string(data))
	return st, nil
}

// --- Windows: the Run registry value (the registry calls are in autostart_windows.go) ---

const (
	runKeyPath   = `Software\Microsoft\Windows\CurrentVersion\Run`
	runValueName = "Parley"
)

// windowsCommandLine joins argv the way CommandLineToArgvW splits it back (the rules
// of syscall.EscapeArg, which exists only on Windows).
func windowsCommandLine(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = windowsQuote(a)
	}
	return strings.Join(q, " ")
}

func windowsQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, 2*slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(s[i])
	}
	b.WriteString(strings.Repeat(`\`, slashes)) // before the closing quote
	b.WriteByte('"')
	return b.String()
}
