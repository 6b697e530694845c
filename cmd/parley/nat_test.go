package main

import (
	"encoding/json"
	"net"
	"slices"
	"testing"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/daemon"
	"github.com/parley-im/parley/stun"
)

// stunServer runs an in-process STUN responder on a loopback UDP port and returns its
// address; it is closed at cleanup.
func stunServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &stun.Responder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Serve(pc)
	}()
	t.Cleanup(func() {
		r.Close()
		<-done
	})
	return pc.LocalAddr().String()
}

// TestNatNeedsASTUNServer: with no node running and no --stun there is no server to
// ask; the error says both ways out.
func TestNatNeedsASTUNServer(t *testing.T) {
	home := t.TempDir()
	r := parley(t, nil, "--home", home, "nat")
	wantOutput(t, r, 1, nil, []string{"parley is not running for home " + home, "parley up", "--stun HOST:PORT"})
}

// TestNatUsesTheNodesSTUNServer: `parley nat` without --stun asks the STUN server the
// running node uses (`up --stun`), which `id --json` lists.
func TestNatUsesTheNodesSTUNServer(t *testing.T) {
	server := stunServer(t)
	ann := startNodeWith(t, "ann", func(o *daemon.Options) { o.STUN = server })
	var st api.Status
	ann.jsonOf(t, &st, "id", "--json")
	if !slices.Equal(st.STUN, []string{server}) {
		t.Errorf("id --json: stun = %q, want [%s]", st.STUN, server)
	}
	r := ann.parley(t, nil, "nat")
	wantOutput(t, r, 0, []string{"Mapped:       127.0.0.1:", server}, nil)
}

// TestNatWithANodeWithoutSTUN: a node with no STUN server (no rendezvous, no --stun)
// gives `parley nat` none; it says so and how to name one.
func TestNatWithANodeWithoutSTUN(t *testing.T) {
	ann := startNode(t, "ann")
	r := ann.parley(t, nil, "nat")
	wantOutput(t, r, 1, nil, []string{"uses no STUN server", "--stun HOST:PORT"})
}

func TestNatJSON(t *testing.T) {
	server := stunServer(t)
	r := parley(t, nil, "--home", t.TempDir(), "nat", "--stun", server, "--json")
	wantOutput(t, r, 0, nil, nil)
	var rep stun.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not a Report: %v\n%s", err, r)
	}
	if rep.Mapped.Addr().String() != "127.0.0.1" || rep.Mapping != stun.MappingUnknown || len(rep.Results) != 1 {
		t.Errorf("report = %+v, want 127.0.0.1 mapped by one server, mapping unknown", rep)
	}
}

func TestNatJudgesTheMappingWithTwoServers(t *testing.T) {
	a, b := stunServer(t), stunServer(t)
	r := parley(t, nil, "--home", t.TempDir(), "nat", "--stun", a, "--stun", b)
	wantOutput(t, r, 0, []string{"Mapped:       127.0.0.1:", "Mapping:      endpoint-independent", a, b}, nil)
}

func TestNatWithNoAnswerFails(t *testing.T) {
	// A UDP port nothing reads from: the probe gets no answer (or a refusal) and gives up.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := pc.LocalAddr().String()
	pc.Close()
	r := parley(t, nil, "--home", t.TempDir(), "nat", "--stun", silent, "--json")
	wantOutput(t, r, 1, []string{`"error"`}, []string{"no server answered"})
}
