package osfile

import (
	"errors"
	"strings"
	"testing"
)

const (
	alice = "S-1-5-21-1-2-3-1001"
	bob   = "S-1-5-21-1-2-3-1002"
	users = "S-1-5-32-545"
	every = "S-1-1-0"
)

func TestJudgeACL(t *testing.T) {
	full := uint32(0x1f01ff) // FILE_ALL_ACCESS
	for _, tc := range []struct {
		name    string
		owner   string
		hasDACL bool
		dacl    []ACE
		who     string
	}{
		{"owner only (what OpenPrivate writes)", alice, true, []ACE{{true, alice, full}}, ""},
		{"owner, SYSTEM and Administrators (what OpenSSH accepts)", alice, true,
			[]ACE{{true, alice, full}, {true, sidSystem, full}, {true, sidAdministrators, full}}, ""},
		{"owned by Administrators, the current user granted", sidAdministrators, true, []ACE{{true, alice, full}}, ""},
		{"empty DACL: nobody may read", alice, true, nil, ""},
		{"no DACL: everyone may", alice, false, nil, "Everyone (no DACL)"},
		{"inherited Users read (a file made by os.WriteFile)", alice, true,
			[]ACE{{true, alice, full}, {true, users, 0x1200a9}}, users},
		{"Everyone generic read", alice, true, []ACE{{true, every, genericRead}}, every},
		{"another user may only rewrite the ACL", alice, true, []ACE{{true, bob, writeDAC}}, bob},
		{"another user may only read attributes", alice, true, []ACE{{true, bob, 0x80 | 0x100000}}, ""},
		{"a deny entry does not excuse a later allow", alice, true,
			[]ACE{{false, users, full}, {true, users, full}}, users},
	} {
		t.Run(tc.name, func(t *testing.T) {
			who, ok := judge(tc.owner, alice, tc.hasDACL, tc.dacl)
			if who != tc.who || ok != (tc.who == "") {
				t.Errorf("judge = %q, %v; want %q, %v", who, ok, tc.who, tc.who == "")
			}
		})
	}
}

func TestPrivateSDDL(t *testing.T) {
	if got, want := privateSDDL(alice), "D:P(A;;FA;;;"+alice+")"; got != want {
		t.Errorf("privateSDDL = %q, want %q", got, want)
	}
}

func TestErrorsSayWhatToRun(t *testing.T) {
	err := aclError(`C:\Users\a\parley\identity.key`, users)
	if !errors.Is(err, ErrReadableByOthers) || !strings.Contains(err.Error(), "icacls") || !strings.Contains(err.Error(), users) {
		t.Errorf("aclError = %v", err)
	}
	err = modeError("/h/identity.key", 0o644)
	if !errors.Is(err, ErrReadableByOthers) || !strings.Contains(err.Error(), "(mode 0644): run `chmod 600 /h/identity.key`") {
		t.Errorf("modeError = %v", err)
	}
}
