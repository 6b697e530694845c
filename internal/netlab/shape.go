package netlab

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// LimitRate shapes everything the host sends out of eth0 to rate with a token bucket
// (tc tbf; there is no netem on these kernels). rate is a tc rate in bits per second
// with a unit, e.g. "200mbit" or "1gbit". Traffic the host receives is not shaped: to
// limit a link both ways, shape both ends. It fails the test if tc is missing or
// refuses; ClearRate (or deleting the lab) removes the shaping.
//
// The bucket holds 4 ms of traffic (at least 64 KiB, so a full TSO/GSO segment passes
// without being split), and up to 20 ms may queue before tbf drops.
func (h *Host) LimitRate(t testing.TB, rate string) {
	t.Helper()
	bps, err := ParseRate(rate)
	if err != nil {
		t.Fatalf("netlab: %s: LimitRate: %v", h.Name, err)
	}
	burst := max(bps/8/250, 64<<10)
	h.Run(t, "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf",
		"rate", strconv.FormatInt(bps, 10)+"bit", "burst", strconv.FormatInt(burst, 10), "latency", "20ms")
}

// ClearRate removes the shaping LimitRate put on eth0.
func (h *Host) ClearRate(t testing.TB) {
	t.Helper()
	h.Run(t, "tc", "qdisc", "del", "dev", "eth0", "root")
}

// ParseRate reads a tc-style rate ("500kbit", "200mbit", "1gbit", "1000000bit") into
// bits per second. Units are decimal, as tc's are.
func ParseRate(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}}
	low := strings.ToLower(strings.TrimSpace(s))
	for _, u := range units {
		num, ok := strings.CutSuffix(low, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f <= 0 {
			return 0, fmt.Errorf("rate %q: want a positive number and a unit, e.g. 200mbit", s)
		}
		return int64(f * float64(u.mult)), nil
	}
	return 0, fmt.Errorf("rate %q: want a unit: bit, kbit, mbit or gbit", s)
}
