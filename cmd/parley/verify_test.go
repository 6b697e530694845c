package main

import (
	"strings"
	"testing"

	"github.com/parley-im/parley/api"
)

// TestContactsVerify: both sides see the same safety number; `--json` marks nothing;
// answering anything but yes marks nothing; "y" marks the contact, which `contacts ls`
// then shows; a peer that is not a contact cannot be marked.
func TestContactsVerify(t *testing.T) {
	ann, bob := pair(t)
	var va, vb api.Verification
	ann.jsonOf(t, &va, "contacts", "verify", "--json", "bob")
	bob.jsonOf(t, &vb, "contacts", "verify", "--json", "ann")
	if va.SafetyNumber == "" || va.SafetyNumber != vb.SafetyNumber || va.Verified {
		t.Fatalf("ann sees %+v, bob sees %+v; want one unmarked safety number", va, vb)
	}
	wantOutput(t, bob.parley(t, strings.NewReader("y\n"), "contacts", "verify", "ann"), 1, nil,
		[]string{"not a contact", "parley contacts add"})
	wantOutput(t, ann.parley(t, nil, "contacts", "add", "bob"), 0, []string{"added bob"}, nil)
	rows := strings.Fields(va.SafetyNumber)
	wantOutput(t, ann.parley(t, strings.NewReader("n\n"), "contacts", "verify", "bob"), 0,
		[]string{"Safety number with bob", strings.Join(rows[:4], " "), "Do the numbers match? [y/N]", "Not marked verified"}, nil)
	if r := ann.parley(t, nil, "contacts", "ls"); r.code != 0 || strings.Contains(r.stdout, "verified") {
		t.Fatalf("contacts ls before verifying: %s", r)
	}
	wantOutput(t, ann.parley(t, strings.NewReader("y\n"), "contacts", "verify", "bob"), 0,
		[]string{"Your fingerprint:  " + ann.st.Fingerprint, "bob is now verified."}, nil)
	wantOutput(t, ann.parley(t, nil, "contacts", "ls"), 0, []string{"verified", bob.st.PeerID}, nil)
	var l api.ContactList
	ann.jsonOf(t, &l, "contacts", "ls", "--json")
	if len(l.Contacts) != 1 || !l.Contacts[0].Verified {
		t.Fatalf("contacts after verify: %+v", l.Contacts)
	}
	wantOutput(t, ann.parley(t, nil, "contacts", "verify", "bob"), 0, []string{"Already verified."}, nil)
}
