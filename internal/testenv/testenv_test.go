package testenv

import (
	"errors"
	"strings"
	"testing"
)

// recorder stands in for a test: it records whether Need skipped or failed it.
type recorder struct {
	testing.TB
	skipped, failed string
}

// stopped is what Skip and Fatalf panic with: like the real ones, they end the test
// function there.
type stopped struct{}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = args[0].(string); panic(stopped{}) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = format; panic(stopped{}) }

// run calls f as a test function would be, stopping where it skips or fails.
func (r *recorder) run(f func()) *recorder {
	defer func() {
		if v := recover(); v != nil && v != (stopped{}) {
			panic(v)
		}
	}()
	f()
	return r
}

// TestNeedSkipsLoudlyOrFailsUnderCI: what a test lacks skips it with the reason in
// capitals, except under CI, where it fails; a tool on PATH is returned.
func TestNeedSkipsLoudlyOrFailsUnderCI(t *testing.T) {
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	r.run(func() { Need(r, "needs a thing", errors.New("gone")) })
	if !strings.HasPrefix(r.skipped, "SKIPPING: needs a thing") || !strings.Contains(r.skipped, "gone") || r.failed != "" {
		t.Errorf("outside CI: skipped %q, failed %q", r.skipped, r.failed)
	}
	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	r.run(func() { Tool(r, "needs a tool that is nowhere", "parley-no-such-tool") })
	if r.failed == "" || r.skipped != "" {
		t.Errorf("under CI: skipped %q, failed %q", r.skipped, r.failed)
	}
	r = &recorder{TB: t}
	if path := Tool(r, "needs sh", "parley-no-such-tool", "sh"); !strings.HasSuffix(path, "/sh") || r.failed != "" || r.skipped != "" {
		t.Errorf("Tool(sh) = %q, skipped %q, failed %q", path, r.skipped, r.failed)
	}
	Need(r, "nothing missing", nil)
	if r.failed != "" || r.skipped != "" {
		t.Errorf("Need(nil) stopped the test")
	}
}
