package netlab

import (
	"net"
	"testing"
)

// TestRouterJoinsSubnets: two labs on different subnets reach each other through a
// router once their hosts have routes through it.
func TestRouterJoinsSubnets(t *testing.T) {
	left, right := New(t), NewSubnet(t, 1)
	left.AddRouter("router", right)
	a, b := left.AddHost("a"), right.AddHost("b")
	if !b.IP.Equal(net.IPv4(198, 18, 1, 1)) {
		t.Fatalf("b is %s, want 198.18.1.1", b.IP)
	}
	if err := a.AddRoute(right.SubnetCIDR(), left.RouterIP()); err != nil {
		t.Fatal(err)
	}
	if err := b.AddRoute(left.SubnetCIDR(), right.RouterIP()); err != nil {
		t.Fatal(err)
	}
	assertReach(t, a, b)
	assertReach(t, b, a)
}
