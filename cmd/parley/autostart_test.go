package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeManager stands in for systemctl/launchctl: it records the calls and answers
// with err (nil: success).
func fakeManager(t *testing.T, err error) *[]string {
	t.Helper()
	var calls []string
	old := autostartRun
	autostartRun = func(_ context.Context, name string, args ...string) ([]byte, error) {
		calls = append(calls, name+" "+strings.Join(args, " "))
		if err != nil {
			return []byte("Failed to connect to bus"), err
		}
		if len(args) > 1 && args[1] == "is-enabled" {
			return []byte("enabled\n"), nil
		}
		return nil, nil
	}
	t.Cleanup(func() { autostartRun = old })
	return &calls
}

// TestAutostartSystemd writes the unit into a temp XDG_CONFIG_HOME, with the user's
// flags of `up` passed through, and removes it again.
func TestAutostartSystemd(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the systemd unit is Linux's way; TestLaunchAgentPlist and TestWindowsCommandLine cover the others")
	}
	tmp := t.TempDir()
	t.Setenv("HOME", tmp)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(tmp, "cfg"))
	calls := fakeManager(t, nil)
	home := filepath.Join(tmp, "my home")
	r := parley(t, nil, "--home", home, "autostart", "on", "--no-mdns", "--peer", "/ip4/10.0.0.5/tcp/4001/p2p/12D3KooWA",
		"--peer", "/ip4/10.0.0.6/tcp/4001/p2p/12D3KooWB", "--away-after", "5m", "--name", `50% "Ann"`)
	if r.code != 0 {
		t.Fatalf("autostart on: %s", r)
	}
	unit := filepath.Join(tmp, "cfg", "systemd", "user", "parley.service")
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	want := "ExecStart=" + systemdQuote(exe) + ` "--home" "` + home + `" "up" "--peer" "/ip4/10.0.0.5/tcp/4001/p2p/12D3KooWA" "--peer" "/ip4/10.0.0.6/tcp/4001/p2p/12D3KooWB" "--no-mdns=true" "--name" "50%% \"Ann\"" "--away-after" "5m0s"` + "\n"
	if !strings.Contains(string(data), want) || !strings.Contains(string(data), "WantedBy=default.target") {
		t.Errorf("unit file:\n%s\nwant the line\n%s", data, want)
	}
	if got := strings.Join(*calls, "; "); got != "systemctl --user daemon-reload; systemctl --user enable parley.service" {
		t.Errorf("systemctl calls: %s", got)
	}
	r = parley(t, nil, "--home", home, "autostart", "status", "--json")
	var st autostartState
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || !st.Installed || st.Path != unit || st.Enabled != "enabled" || !strings.Contains(st.Command, `"up"`) {
		t.Errorf("status --json: %s (%v) %+v", r, err, st)
	}
	if r = parley(t, nil, "--home", home, "autostart", "off"); r.code != 0 {
		t.Fatalf("autostart off: %s", r)
	}
	if _, err := os.Stat(unit); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unit still there after off: %v", err)
	}
	r = parley(t, nil, "--home", home, "autostart", "status")
	if !strings.HasPrefix(r.stdout, "off:") {
		t.Errorf("status after off: %s", r)
	}
}

// TestAutostartWithoutSystemd: no user manager (a container, CI): the unit is still
// written and the output says what to run.
func TestAutostartWithoutSystemd(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	tmp := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", tmp)
	fakeManager(t, errors.New("exit status 1"))
	r := parley(t, nil, "--home", filepath.Join(tmp, "h"), "autostart", "on")
	if r.code != 0 || !strings.Contains(r.stdout, "systemctl --user enable --now parley.service") {
		t.Fatalf("autostart on without systemd: %s", r)
	}
	if _, err := os.Stat(filepath.Join(tmp, "systemd", "user", "parley.service")); err != nil {
		t.Error(err)
	}
	r = parley(t, nil, "--home", filepath.Join(tmp, "h"), "autostart", "status")
	if !strings.Contains(r.stdout, "enabled: unknown") {
		t.Errorf("status without systemd: %s", r)
	}
}

func TestLaunchAgentPlist(t *testing.T) {
	argv := []string{"/Applications/Parley/parley", "--home", "/Users/a/Library/Application Support/parley", "up", "--name", "A&B <x>"}
	p := plistFile(argv, "/Users/a/parley.log")
	for _, want := range []string{
		"<key>Label</key>\n\t<string>im.parley.node</string>",
		"\t\t<string>A&amp;B &lt;x&gt;</string>\n",
		"<key>RunAtLoad</key>\n\t<true/>",
		"<key>StandardErrorPath</key>\n\t<string>/Users/a/parley.log</string>",
	} {
		if !strings.Contains(p, want) {
			t.Errorf("plist lacks %q:\n%s", want, p)
		}
	}
	if got, want := plistCommand(p), strings.Join(argv, " "); got != want {
		t.Errorf("plistCommand = %q, want %q", got, want)
	}
	dir := t.TempDir()
	calls := fakeManager(t, nil)
	a := &launchAgent{dir: dir, home: "/h"}
	if _, err := a.install(context.Background(), argv); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.status(context.Background()); !st.Installed || st.Command != strings.Join(argv, " ") {
		t.Errorf("status %+v", st)
	}
	if len(*calls) != 2 || !strings.HasPrefix((*calls)[1], "launchctl bootstrap gui/") {
		t.Errorf("launchctl calls %q", *calls)
	}
}

func TestWindowsCommandLine(t *testing.T) {
	argv := []string{`C:\Program Files\Parley\parley.exe`, "--home", `C:\Users\a b\AppData\Roaming\parley\`, "up", "--name", `say "hi"`, "--no-mdns=true", ""}
	want := `"C:\Program Files\Parley\parley.exe" --home "C:\Users\a b\AppData\Roaming\parley\\" up --name "say \"hi\"" --no-mdns=true ""`
	if got := windowsCommandLine(argv); got != want {
		t.Errorf("windowsCommandLine =\n%s\nwant\n%s", got, want)
	}
}
