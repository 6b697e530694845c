//go:build !windows

package main

import (
	"os"
	"path/filepath"
)

// userDownloadsDir is ~/Downloads (used on macOS; see downloadsFolder).
func userDownloadsDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "Downloads"), nil
}
