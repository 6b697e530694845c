package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100 on every
// Linux architecture Go supports (sysconf(_SC_CLK_TCK) would need cgo).
const clockTicks = 100

// RSS returns the resident set size (VmRSS) of process pid in bytes.
func RSS(pid int) (int64, error) { return statusKB(pid, "VmRSS") }

// PeakRSS returns the highest resident set size process pid has had (VmHWM) in bytes.
func PeakRSS(pid int) (int64, error) { return statusKB(pid, "VmHWM") }

// statusKB reads a "Field:   N kB" line of /proc/PID/status, in bytes.
func statusKB(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		kb, ok := strings.CutSuffix(strings.TrimSpace(rest), " kB")
		if !ok {
			return 0, fmt.Errorf("/proc/%d/status: odd %s line %q", pid, field, line)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(kb), 10, 64)
		return n * 1024, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s line", pid, field)
}

// CPUTime returns the user plus system CPU time process pid has used so far.
func CPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(data)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a /proc/PID/stat line. The
// command name (field 2) is in parentheses and may hold spaces, so fields are counted
// from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("odd /proc stat line %q", stat)
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat line %q", stat)
	}
	var ticks int64
	for _, s := range f[11:13] { // fields 14 (utime) and 15 (stime)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// MB formats a byte count in MiB.
func MB(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}
