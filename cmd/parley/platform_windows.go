package main

import "golang.org/x/sys/windows"

// userDownloadsDir is the user's Downloads known folder (FOLDERID_Downloads), which
// the user may have moved to another drive.
func userDownloadsDir() (string, error) {
	return windows.KnownFolderPath(windows.FOLDERID_Downloads, windows.KF_FLAG_DEFAULT)
}
