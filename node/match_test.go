package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/parley-im/parley/api"
)

// TestUniqueMatch: one match is it; none is ErrNotFound; several is ErrBadRequest
// naming every candidate (issue 13 item 5: an ambiguous prefix is a clear error).
func TestUniqueMatch(t *testing.T) {
	labels := map[string]string{"2561aa": "2561aa (a.pdf)", "2561bb": "2561bb (b.pdf)"}
	if got, err := uniqueMatch("transfer", "2561a", []string{"2561aa"}, labels, "x"); err != nil || got != "2561aa" {
		t.Errorf("one match: %q, %v", got, err)
	}
	if _, err := uniqueMatch("transfer", "99", nil, labels, "`parley transfers`"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("no match: %v, want ErrNotFound", err)
	}
	_, err := uniqueMatch("transfer", "2561", []string{"2561bb", "2561aa"}, labels, "x")
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "2561aa (a.pdf), 2561bb (b.pdf)") {
		t.Errorf("two matches: %v", err)
	}
}
