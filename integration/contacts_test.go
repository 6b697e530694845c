package integration

import (
	"testing"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
)

// pair is Ann and Bob in two netlab hosts (mDNS on), connected and in each other's
// buddy lists under the nicknames "Ann" and "Bob".
type pair struct {
	lab          *netlab.Lab
	ann, bob     *testnode.Node
	annID, bobID string
}

// startPair starts the pair in a new lab; bobArgs are extra `up` flags for Bob.
func startPair(t *testing.T, bobArgs ...string) pair {
	t.Helper()
	return startPairIn(t, netlab.New(t), bobArgs...)
}

// startPairIn starts the pair in lab.
func startPairIn(t *testing.T, lab *netlab.Lab, bobArgs ...string) pair {
	t.Helper()
	p := pair{lab: lab}
	p.ann = testnode.Start(t, testnode.Options{Name: "Ann", Host: lab.AddHost("ann")})
	p.bob = testnode.Start(t, testnode.Options{Name: "Bob", Host: lab.AddHost("bob"), Args: bobArgs})
	p.annID, p.bobID = p.ann.Status().PeerID, p.bob.Status().PeerID
	waitOnline(t, p.ann, "Bob")
	waitOnline(t, p.bob, "Ann")
	p.ann.AddContact("Bob", p.bobID)
	p.bob.AddContact("Ann", p.annID)
	return p
}

// messagesWith returns the messages of history exchanged with peer id in direction dir.
func messagesWith(history []api.Message, id, dir string) []api.Message {
	var out []api.Message
	for _, m := range history {
		if m.Direction != dir {
			continue
		}
		if (dir == "in" && m.From == id) || (dir == "out" && m.To == id) {
			out = append(out, m)
		}
	}
	return out
}

// allInState reports whether there are want messages and all are in state.
func allInState(msgs []api.Message, want int, state string) bool {
	if len(msgs) != want {
		return false
	}
	for _, m := range msgs {
		if m.State != state {
			return false
		}
	}
	return true
}

// sendJSON is `parley send --json TO TEXT` from n.
func sendJSON(t *testing.T, n *testnode.Node, to, text string) api.SendResult {
	t.Helper()
	var res api.SendResult
	n.JSON(&res, "send", to, text)
	return res
}
