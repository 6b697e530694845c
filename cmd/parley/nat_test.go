package main

import (
	"encoding/json"
	"net"
	"testing"

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

func TestNatNeedsASTUNServer(t *testing.T) {
	r := parley(t, nil, "--home", t.TempDir(), "nat")
	wantOutput(t, r, 2, nil, []string{"--stun HOST:PORT"})
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
