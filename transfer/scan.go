package transfer

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// scanOutput bounds what is kept of the scanner's output for the reason.
const scanOutput = 512

// scan runs ScanCmd with the file's path appended. It returns the reason to quarantine
// the file ("" if it passed, or if no scanner is configured). A scanner that cannot run
// quarantines too: nothing is released unchecked when a check was asked for.
func (m *Manager) scan(ctx context.Context, file string) (string, error) {
	argv := m.cfg.ScanCmd
	if len(argv) == 0 {
		return "", nil
	}
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:len(argv):len(argv)], file)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err == nil {
		return "", nil
	}
	m.log.Warn("the scanner refused a file", "file", file, "err", err)
	return scanReason(argv[0], err, out.String()), nil
}

func scanReason(name string, err error, output string) string {
	output = strings.TrimSpace(output)
	if len(output) > scanOutput {
		output = output[:scanOutput] + "…"
	}
	if output == "" {
		return fmt.Sprintf("%s: %v", name, err)
	}
	return fmt.Sprintf("%s: %v: %s", name, err, output)
}
