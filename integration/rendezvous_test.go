package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
)

// TestRoutedSubnetsMeetThroughRendezvous: an office subnet and a field subnet joined by
// a router, with no multicast between them. Ann (office) and Bob (field) find each
// other only through a rendezvous server in the office, while Cat, in the field without
// the server, sees Bob by mDNS but never Ann. Then the server is killed and restarted,
// Bob restarts meanwhile, and they find each other again through it.
func TestRoutedSubnetsMeetThroughRendezvous(t *testing.T) {
	office, field := netlab.New(t), netlab.NewSubnet(t, 1)
	office.AddRouter("router", field)
	srvHost, annHost := office.AddHost("server"), office.AddHost("ann")
	bobHost, catHost := field.AddHost("bob"), field.AddHost("cat")
	for _, h := range []*netlab.Host{srvHost, annHost} {
		addRoute(t, h, field, office)
	}
	for _, h := range []*netlab.Host{bobHost, catHost} {
		addRoute(t, h, office, field)
	}
	srv := startRendezvous(t, srvHost, t.TempDir())
	withServer := []string{"--rendezvous", srv.addr}
	ann := testnode.Start(t, testnode.Options{Name: "Ann", Host: annHost, Args: withServer})
	bob := testnode.Start(t, testnode.Options{Name: "Bob", Host: bobHost, Args: withServer})
	cat := testnode.Start(t, testnode.Options{Name: "Cat", Host: catHost})

	waitOnlineVia(t, ann, "Bob", "rendezvous")
	waitOnlineVia(t, bob, "Ann", "rendezvous")
	waitOnlineVia(t, cat, "Bob", "mdns")
	if slicesHasName(cat.Peers(), "Ann") {
		t.Error("Cat, in the field subnet without the server, knows Ann: multicast crossed the router?")
	}
	sendDelivered(t, ann, "Bob", "hello field")
	sendDelivered(t, bob, "Ann", "hello office")

	srv.kill()
	bob.Kill()
	srv.restart(t)
	bob.Restart()
	waitOnlineVia(t, ann, "Bob", "rendezvous")
	waitOnlineVia(t, bob, "Ann", "rendezvous")
	sendDelivered(t, bob, "Ann", "back after the server restarted")
}

func addRoute(t *testing.T, h *netlab.Host, to, from *netlab.Lab) {
	t.Helper()
	if err := h.AddRoute(to.SubnetCIDR(), from.RouterIP()); err != nil {
		t.Fatal(err)
	}
}

func waitOnlineVia(t *testing.T, n *testnode.Node, name, via string) {
	t.Helper()
	testnode.WaitFor(t, 90*time.Second, fmt.Sprintf("%s online via %s", name, via), func() bool {
		for _, p := range n.Peers() {
			if p.Name == name && p.Presence == api.PresenceOnline && p.Via == via {
				return true
			}
		}
		return false
	})
}

func slicesHasName(peers []api.Peer, name string) bool {
	for _, p := range peers {
		if p.Name == name {
			return true
		}
	}
	return false
}

func sendDelivered(t *testing.T, from *testnode.Node, to, text string) {
	t.Helper()
	var res api.SendResult
	from.JSON(&res, "send", to, text)
	if res.Message.State != api.StateDelivered {
		t.Fatalf("send to %s: %+v", to, res)
	}
}

// rendezvousProc is a `parley rendezvous serve` process in a netlab host, on a fixed
// port inside its own namespace so its address survives a restart.
type rendezvousProc struct {
	host *netlab.Host
	home string
	addr string
	args []string // more flags of `rendezvous serve`
	cmd  *exec.Cmd
}

func startRendezvous(t *testing.T, h *netlab.Host, home string, args ...string) *rendezvousProc {
	t.Helper()
	r := &rendezvousProc{host: h, home: home, args: args}
	r.restart(t)
	t.Cleanup(r.kill)
	return r
}

func (r *rendezvousProc) restart(t *testing.T) {
	t.Helper()
	bin := testnode.Build(t)
	args := []string{"--home", r.home, "rendezvous", "serve", "--json", "--listen", "/ip4/0.0.0.0/tcp/4001", "--stun", "off", "--metrics", "off"}
	r.cmd = r.host.Command(context.Background(), bin, append(args, r.args...)...)
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var info struct {
		Addrs []string `json:"addrs"`
	}
	if err := json.NewDecoder(out).Decode(&info); err != nil {
		t.Fatalf("rendezvous serve printed no address: %v", err)
	}
	for _, a := range info.Addrs {
		if strings.Contains(a, "/"+r.host.IP.String()+"/") {
			r.addr = a
		}
	}
	if r.addr == "" {
		t.Fatalf("no address on %s among %v", r.host.IP, info.Addrs)
	}
}

func (r *rendezvousProc) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}
