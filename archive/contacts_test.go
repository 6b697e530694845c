package archive

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// fixClock makes s.now return *at, so tests can move it.
func fixClock(s *Store, at *time.Time) {
	s.now = func() time.Time { return *at }
}

func mustPutContact(t *testing.T, s *Store, cs ...Contact) {
	t.Helper()
	for _, c := range cs {
		if err := s.PutContact(context.Background(), c); err != nil {
			t.Fatalf("PutContact(%+v): %v", c, err)
		}
	}
}

func mustContact(t *testing.T, s *Store, peerID string) Contact {
	t.Helper()
	c, err := s.Contact(context.Background(), peerID)
	if err != nil {
		t.Fatalf("Contact(%q): %v", peerID, err)
	}
	return c
}

func assertNoContact(t *testing.T, s *Store, peerID string) {
	t.Helper()
	if c, err := s.Contact(context.Background(), peerID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Contact(%q) = %+v, %v; want ErrNotFound", peerID, c, err)
	}
}

func sameContact(got, want Contact) bool {
	if !got.AddedAt.Equal(want.AddedAt) {
		return false
	}
	got.AddedAt, want.AddedAt = time.Time{}, time.Time{}
	return got == want
}

func TestContactCRUD(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	now := base
	fixClock(s, &now)
	assertNoContact(t, s, "peerA")

	mustPutContact(t, s, Contact{PeerID: "peerA", Nickname: "Ann", Group: "work", Contact: true})
	want := Contact{PeerID: "peerA", Nickname: "Ann", Group: "work", Contact: true, AddedAt: base}
	if got := mustContact(t, s, "peerA"); !sameContact(got, want) || got.AddedAt.Location() != time.UTC {
		t.Fatalf("after add: %+v, want %+v in UTC", got, want)
	}

	// The peer announces a name; an update without one keeps it, and
	// keeps the time it was added.
	if err := s.SetContactName(ctx, "peerA", "Ann Smith"); err != nil {
		t.Fatal(err)
	}
	now = base.Add(time.Hour)
	mustPutContact(t, s, Contact{PeerID: "peerA", Nickname: "Annie", Group: "family", Contact: true})
	want = Contact{PeerID: "peerA", Nickname: "Annie", Name: "Ann Smith", Group: "family", Contact: true, AddedAt: base}
	if got := mustContact(t, s, "peerA"); !sameContact(got, want) {
		t.Fatalf("after update: %+v, want %+v", got, want)
	}

	// Every other field is replaced, and a given AddedAt is stored.
	mustPutContact(t, s, Contact{PeerID: "peerA", Name: "A. Smith", Contact: true, AddedAt: base.Add(-time.Hour)})
	want = Contact{PeerID: "peerA", Name: "A. Smith", Contact: true, AddedAt: base.Add(-time.Hour)}
	if got := mustContact(t, s, "peerA"); !sameContact(got, want) {
		t.Fatalf("after replace: %+v, want %+v", got, want)
	}

	if err := s.RemoveContact(ctx, "peerA"); err != nil {
		t.Fatal(err)
	}
	assertNoContact(t, s, "peerA")
	if err := s.RemoveContact(ctx, "peerA"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second RemoveContact = %v, want ErrNotFound", err)
	}
	if cs, err := s.Contacts(ctx); err != nil || len(cs) != 0 {
		t.Errorf("Contacts after remove = %+v, %v; want none", cs, err)
	}
}

func TestContactsOrder(t *testing.T) {
	s := openTestStore(t)
	mustPutContact(t, s,
		Contact{PeerID: "p1", Nickname: "bob", Group: "work", Contact: true},
		Contact{PeerID: "p2", Name: "Alice", Group: "work", Contact: true},
		Contact{PeerID: "p3", Nickname: "Zed", Contact: true},
		Contact{PeerID: "p4", Name: "émile", Group: "Family", Contact: true},
		Contact{PeerID: "p5", Nickname: "Émile", Group: "family", Contact: true}, // groups differing in case stay apart
		Contact{PeerID: "p6", Nickname: "ÉMILE", Group: "Family", Contact: true},
		Contact{PeerID: "p7", Nickname: "Carol", Name: "Aaron", Group: "work", Contact: true}, // the nickname is what sorts
		Contact{PeerID: "p0", Nickname: "bob", Group: "WORK", Contact: true},
		Contact{PeerID: "p9", Group: "work", Contact: true}, // no name at all: sorts by peer ID
		Contact{PeerID: "p8", Nickname: "ALICE", Group: "work", Contact: true},
	)
	if err := s.SetBlocked(context.Background(), "a-blocked", true); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Contacts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.PeerID)
	}
	// Ungrouped first; Family (p4, p6 by peer ID since émile = ÉMILE)
	// before family; WORK before work; within work: Alice/ALICE (by peer
	// ID), bob, Carol, then p9 (shown as its peer ID).
	want := "a-blocked,p3,p4,p6,p5,p0,p2,p8,p1,p7,p9"
	if strings.Join(got, ",") != want {
		t.Errorf("Contacts order = %s\nwant             %s", strings.Join(got, ","), want)
	}
}

func TestPutContactRejectsInvalid(t *testing.T) {
	s := openTestStore(t)
	good := Contact{PeerID: "12D3KooWGood", Nickname: "Ann ✓", Group: "work", Contact: true}
	mustPutContact(t, s, good)
	tests := map[string]func(*Contact){
		"no peer ID":             func(c *Contact) { c.PeerID = "" },
		"long peer ID":           func(c *Contact) { c.PeerID = strings.Repeat("p", MaxPeerIDLen+1) },
		"peer ID with space":     func(c *Contact) { c.PeerID = "12D3 KooW" },
		"peer ID with newline":   func(c *Contact) { c.PeerID = "12D3KooW\n" },
		"peer ID not UTF-8":      func(c *Contact) { c.PeerID = "12D3\xff" },
		"long nickname":          func(c *Contact) { c.Nickname = strings.Repeat("n", MaxLabelLen+1) },
		"long nickname in runes": func(c *Contact) { c.Nickname = strings.Repeat("é", MaxLabelLen/2+1) },
		"nickname with escape":   func(c *Contact) { c.Nickname = "\x1b[31mred" },
		"nickname not UTF-8":     func(c *Contact) { c.Nickname = "\xc3" },
		"long group":             func(c *Contact) { c.Group = strings.Repeat("g", MaxLabelLen+1) },
		"group with tab":         func(c *Contact) { c.Group = "a\tb" },
		"group with NUL":         func(c *Contact) { c.Group = "a\x00b" },
		"long name":              func(c *Contact) { c.Name = strings.Repeat("n", MaxLabelLen+1) },
		"name not UTF-8":         func(c *Contact) { c.Name = "\xff" },
		"neither contact nor blocked": func(c *Contact) {
			c.Contact = false
		},
		"added in year 1": func(c *Contact) { c.AddedAt = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC) },
	}
	for name, breakIt := range tests {
		c := good
		c.PeerID = "12D3KooWOther"
		breakIt(&c)
		if err := s.PutContact(context.Background(), c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: PutContact error = %v, want ErrInvalid", name, err)
		}
	}
	edge := Contact{PeerID: strings.Repeat("p", MaxPeerIDLen), Nickname: strings.Repeat("é", MaxLabelLen/2),
		Group: strings.Repeat("g", MaxLabelLen), Contact: true}
	mustPutContact(t, s, edge)
	cs, err := s.Contacts(context.Background())
	if err != nil || len(cs) != 2 {
		t.Errorf("Contacts = %d, %v; want the 2 valid ones only", len(cs), err)
	}
	if err := s.SetBlocked(context.Background(), "", true); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetBlocked with no peer ID = %v, want ErrInvalid", err)
	}
}

func TestBlockWithoutContact(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	now := base
	fixClock(s, &now)
	if err := s.SetBlocked(ctx, "spammer", true); err != nil {
		t.Fatal(err)
	}
	want := Contact{PeerID: "spammer", Blocked: true, AddedAt: base}
	if got := mustContact(t, s, "spammer"); !sameContact(got, want) {
		t.Errorf("blocked stranger = %+v, want %+v", got, want)
	}
	// Blocking twice changes nothing; the peer is not in the buddy list.
	now = base.Add(time.Hour)
	if err := s.SetBlocked(ctx, "spammer", true); err != nil {
		t.Fatal(err)
	}
	if got := mustContact(t, s, "spammer"); !sameContact(got, want) {
		t.Errorf("blocked twice = %+v, want %+v", got, want)
	}
	if err := s.RemoveContact(ctx, "spammer"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveContact of a peer that is only blocked = %v, want ErrNotFound", err)
	}
	if got := mustContact(t, s, "spammer"); !got.Blocked {
		t.Error("RemoveContact unblocked a peer that was only blocked")
	}
	// Adding them later puts them in the buddy list as of now.
	mustPutContact(t, s, Contact{PeerID: "spammer", Nickname: "Sam", Contact: true, Blocked: true})
	want = Contact{PeerID: "spammer", Nickname: "Sam", Contact: true, Blocked: true, AddedAt: now}
	if got := mustContact(t, s, "spammer"); !sameContact(got, want) {
		t.Errorf("blocked, then added = %+v, want %+v", got, want)
	}
}

func TestUnblockStranger(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if err := s.SetBlocked(ctx, "stranger", true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBlocked(ctx, "stranger", false); err != nil {
		t.Fatal(err)
	}
	assertNoContact(t, s, "stranger")
	if err := s.SetBlocked(ctx, "never-seen", false); err != nil {
		t.Errorf("unblocking an unknown peer = %v, want nil", err)
	}
	assertNoContact(t, s, "never-seen")
}

func TestUnblockKeepsContact(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	friend := Contact{PeerID: "friend", Nickname: "Fay", Group: "family", Contact: true, AddedAt: base}
	mustPutContact(t, s, friend)
	if err := s.SetBlocked(ctx, "friend", true); err != nil {
		t.Fatal(err)
	}
	blocked := friend
	blocked.Blocked = true
	if got := mustContact(t, s, "friend"); !sameContact(got, blocked) {
		t.Errorf("blocked friend = %+v, want %+v", got, blocked)
	}
	if err := s.SetBlocked(ctx, "friend", false); err != nil {
		t.Fatal(err)
	}
	if got := mustContact(t, s, "friend"); !sameContact(got, friend) {
		t.Errorf("unblocked friend = %+v, want %+v", got, friend)
	}
}

func TestRemoveBlockedContact(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	mustPutContact(t, s, Contact{PeerID: "ex", Nickname: "Ex", Contact: true, Blocked: true, AddedAt: base})
	if err := s.RemoveContact(ctx, "ex"); err != nil {
		t.Fatal(err)
	}
	got := mustContact(t, s, "ex")
	if got.Contact || !got.Blocked {
		t.Errorf("removed blocked contact = %+v, want Contact false and Blocked true", got)
	}
	if err := s.RemoveContact(ctx, "ex"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second RemoveContact = %v, want ErrNotFound", err)
	}
	if err := s.SetBlocked(ctx, "ex", false); err != nil {
		t.Fatal(err)
	}
	assertNoContact(t, s, "ex")
}

func TestSetContactName(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	mustPutContact(t, s, Contact{PeerID: "known", Contact: true})
	if err := s.SetBlocked(ctx, "blocked", true); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"known", "blocked", "stranger"} {
		if err := s.SetContactName(ctx, id, "Name of "+id); err != nil {
			t.Fatalf("SetContactName(%q): %v", id, err)
		}
	}
	for _, id := range []string{"known", "blocked"} {
		if got := mustContact(t, s, id); got.Name != "Name of "+id {
			t.Errorf("Contact(%q).Name = %q", id, got.Name)
		}
	}
	assertNoContact(t, s, "stranger")
	for _, bad := range []string{strings.Repeat("n", MaxLabelLen+1), "\xff"} {
		if err := s.SetContactName(ctx, "known", bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetContactName(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if got := mustContact(t, s, "known"); got.Name != "Name of known" {
		t.Errorf("after rejected names, Name = %q", got.Name)
	}
	// A name is what the peer announced: control characters are kept
	// (clients escape them), so that such a peer can still be a contact.
	odd := "bell\a\x1b[31m"
	if err := s.SetContactName(ctx, "known", odd); err != nil {
		t.Fatal(err)
	}
	mustPutContact(t, s, Contact{PeerID: "odd", Name: odd, Contact: true})
	for _, id := range []string{"known", "odd"} {
		if got := mustContact(t, s, id); got.Name != odd {
			t.Errorf("Contact(%q).Name = %q, want %q", id, got.Name, odd)
		}
	}
}

// TestSetVerified: only a buddy-list contact can be verified; PutContact (a new
// nickname, a new group) keeps the mark; leaving the buddy list drops it.
func TestSetVerified(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	now := base.Add(time.Hour)
	fixClock(s, &now)
	mustPutContact(t, s, Contact{PeerID: "bob", Nickname: "Bob", Contact: true, Blocked: true})
	if got := mustContact(t, s, "bob"); got.Verified || !got.VerifiedAt.IsZero() {
		t.Fatalf("a new contact is verified: %+v", got)
	}
	if err := s.SetVerified(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	got := mustContact(t, s, "bob")
	if !got.Verified || !got.VerifiedAt.Equal(now) {
		t.Fatalf("after SetVerified: %+v, want verified at %v", got, now)
	}
	mustPutContact(t, s, Contact{PeerID: "bob", Nickname: "Robert", Group: "work", Contact: true, Blocked: true})
	if got := mustContact(t, s, "bob"); !got.Verified || got.Nickname != "Robert" {
		t.Fatalf("PutContact lost the verification: %+v", got)
	}
	for _, id := range []string{"stranger", "blocked-only"} {
		if id == "blocked-only" {
			if err := s.SetBlocked(ctx, id, true); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetVerified(ctx, id, true); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetVerified(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if err := s.SetVerified(ctx, "", true); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetVerified(\"\") = %v, want ErrInvalid", err)
	}
	if err := s.RemoveContact(ctx, "bob"); err != nil { // blocked: the row stays
		t.Fatal(err)
	}
	if got := mustContact(t, s, "bob"); got.Verified {
		t.Fatalf("a peer off the buddy list is still verified: %+v", got)
	}
	if err := s.SetVerified(ctx, "bob", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetVerified on a former contact = %v, want ErrNotFound", err)
	}
}
