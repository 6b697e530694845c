//go:build !windows

package main

// newRunKey is reached only on Windows.
func newRunKey() autostarter { return &systemdUnit{dir: systemdUserDir()} }
