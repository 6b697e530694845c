package main

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// runKey is the per-user Run registry value: Windows starts its command line when
// the user logs in, in a console window of its own.
type runKey struct{}

func newRunKey() autostarter { return runKey{} }

func (runKey) install(_ context.Context, argv []string) (string, error) {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, runKeyPath, registry.SET_VALUE)
	if err != nil {
		return "", fmt.Errorf("open HKCU\\%s: %w", runKeyPath, err)
	}
	defer k.Close()
	if err := k.SetStringValue(runValueName, windowsCommandLine(argv)); err != nil {
		return "", fmt.Errorf("set HKCU\\%s\\%s: %w", runKeyPath, runValueName, err)
	}
	return `Set HKCU\` + runKeyPath + `\` + runValueName + ": parley starts when you log in (start it now with the same command: parley up)", nil
}

func (runKey) remove(context.Context) (string, error) {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKeyPath, registry.SET_VALUE)
	if err != nil {
		return "", fmt.Errorf("open HKCU\\%s: %w", runKeyPath, err)
	}
	defer k.Close()
	err = k.DeleteValue(runValueName)
	if errors.Is(err, registry.ErrNotExist) {
		return "autostart is already off (no Run value " + runValueName + ")", nil
	}
	if err != nil {
		return "", fmt.Errorf("delete HKCU\\%s\\%s: %w", runKeyPath, runValueName, err)
	}
	return `Removed HKCU\` + runKeyPath + `\` + runValueName + ": parley no longer starts at login", nil
}

func (runKey) status(context.Context) (autostartState, error) {
	st := autostartState{Method: "Run registry value", Path: `HKCU\` + runKeyPath + `\` + runValueName}
	k, err := registry.OpenKey(registry.CURRENT_USER, runKeyPath, registry.QUERY_VALUE)
	if err != nil {
		return st, nil
	}
	defer k.Close()
	if v, _, err := k.GetStringValue(runValueName); err == nil {
		st.Installed, st.Command = true, v
	}
	return st, nil
}
