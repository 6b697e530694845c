package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// shutdownSignals stop `parley up` cleanly. os.Interrupt is Ctrl-C (and Ctrl-Break on
// Windows). SIGTERM is what kill, systemd and launchd send on Unix; on Windows Go
// delivers a closed console window, a logoff and a shutdown as SIGTERM, so the node
// closes its archive there too.
var shutdownSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// browserCommand is the program that opens url in the user's default browser on goos.
// Windows gets rundll32's FileProtocolHandler rather than `cmd /c start`, which would
// split the link at its '&'.
func browserCommand(goos, url string) []string {
	switch goos {
	case "darwin":
		return []string{"open", url}
	case "windows":
		return []string{"rundll32", "url.dll,FileProtocolHandler", url}
	default:
		return []string{"xdg-open", url}
	}
}

// openBrowser starts the default browser; the printed link is the fallback, so
// failure is ignored.
func openBrowser(ctx context.Context, url string) {
	ctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	argv := browserCommand(runtime.GOOS, url)
	exec.CommandContext(ctx, argv[0], argv[1:]...).Run()
}

// downloadsFolder is the Downloads subfolder received files land in when --downloads
// is not given, or "" for the node's own default, HOME/downloads. The user's Downloads
// folder is used only on Windows and macOS (where every desktop has one), only for the
// default home (a second node with its own --home keeps its own folder), and only when
// the home has no downloads folder yet (an existing user's files stay where they were).
// Linux keeps HOME/downloads: many Linux nodes are servers and boards without a
// desktop, and existing homes must not change.
func downloadsFolder(goos, home, defaultHome, userDownloads string, exists func(string) bool) string {
	if goos != "windows" && goos != "darwin" || userDownloads == "" {
		return ""
	}
	if filepath.Clean(home) != filepath.Clean(defaultHome) || exists(filepath.Join(home, "downloads")) {
		return ""
	}
	return filepath.Join(userDownloads, "Parley")
}

// defaultDownloads applies downloadsFolder to this machine.
func defaultDownloads(home string) string {
	dl, err := userDownloadsDir()
	if err != nil {
		return ""
	}
	def, _ := filepath.Abs(defaultHome())
	return downloadsFolder(runtime.GOOS, home, def, dl, func(p string) bool {
		_, err := os.Stat(p)
		return err == nil
	})
}

// splitCommand splits a --scan-cmd or --on-message style command line on spaces,
// keeping "double-quoted parts" together, so a Windows path with spaces works:
// "C:\Program Files\Windows Defender\MpCmdRun.exe" -Scan -ScanType 3 -File.
// Backslashes are literal (they are Windows path separators).
func splitCommand(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote, have = !inQuote, true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}
