package bench

import (
	"fmt"
	"slices"
	"time"
)

// Summary is the distribution of a set of durations.
type Summary struct {
	N                       int
	Min, P50, P90, P99, Max time.Duration
}

// Summarize returns the nearest-rank percentiles of ds; ds is not modified.
func Summarize(ds []time.Duration) Summary {
	s := slices.Clone(ds)
	slices.Sort(s)
	return Summary{
		N:   len(s),
		Min: Percentile(s, 0),
		P50: Percentile(s, 50),
		P90: Percentile(s, 90),
		P99: Percentile(s, 99),
		Max: Percentile(s, 100),
	}
}

// Percentile returns the nearest-rank p-th percentile (0 <= p <= 100) of sorted, the
// smallest value with at least p % of the samples at or below it (p = 0 gives the
// smallest value); 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100 + 0.999999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Median returns the middle value of ds (the lower one of an even count).
func Median(ds []time.Duration) time.Duration {
	return Summarize(ds).P50
}

// Ratio is a/b, or 0 when b is zero.
func Ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Ms formats d in milliseconds: three decimals below 10 ms, two above.
func Ms(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.3f ms", ms)
	}
	return fmt.Sprintf("%.2f ms", ms)
}

// MsValue is d in milliseconds, for b.ReportMetric.
func MsValue(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
