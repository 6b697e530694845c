package node

import (
	"slices"
	"testing"
)

// TestSTUNServers: the STUN servers a node uses (and `parley nat` asks by default) are
// --stun, else each rendezvous server's IPv4 address on port 3478, once each.
func TestSTUNServers(t *testing.T) {
	const id = "12D3KooWNk4a3X38SxicX45ncy7KUE4yT7LdLXZ9DstCSp5tJZ9w"
	rv := []string{
		"/ip4/198.18.0.5/tcp/4001/p2p/" + id,
		"/ip4/198.18.0.5/udp/4001/quic-v1/p2p/" + id,
		"/ip6/2001:db8::1/tcp/4001/p2p/" + id,
		"/ip4/198.18.1.7/tcp/4001/p2p/" + id,
	}
	for _, tc := range []struct {
		stun string
		rv   []string
		want []string
	}{
		{"", rv, []string{"198.18.0.5:3478", "198.18.1.7:3478"}},
		{"198.18.9.9:5000", rv, []string{"198.18.9.9:5000"}},
		{"off", rv, nil},
		{"", nil, nil},
	} {
		n := &Node{cfg: Config{STUN: tc.stun, Rendezvous: tc.rv}}
		if got := n.stunServers(); !slices.Equal(got, tc.want) {
			t.Errorf("stun %q, rendezvous %d: stunServers = %q, want %q", tc.stun, len(tc.rv), got, tc.want)
		}
	}
}
