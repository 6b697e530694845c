package osfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/windows"
)

// TestOpenPrivateACL reads back the DACL OpenPrivate wrote: protected, one entry,
// the current user.
func TestOpenPrivateACL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := WritePrivate(path, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	ctl, _, err := sd.Control()
	if err != nil || ctl&windows.SE_DACL_PROTECTED == 0 {
		t.Errorf("DACL not protected from inheritance (control %#x, %v)", ctl, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	aces, err := entries(dacl)
	user, _ := currentUser()
	if err != nil || len(aces) != 1 || aces[0].SID != user || !aces[0].Allow {
		t.Errorf("DACL entries %+v (%v), want one allow entry for %s", aces, err, user)
	}
}

// TestCheckReadsTheACL grants BUILTIN\Users read on a file and expects Check to
// refuse it, then narrows it to the user and expects Check to accept it.
func TestCheckReadsTheACL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	user, err := currentUser()
	if err != nil {
		t.Fatal(err)
	}
	setDACL(t, path, "D:P(A;;FA;;;"+user+")(A;;FR;;;BU)")
	if err := Check(path); !errors.Is(err, ErrReadableByOthers) {
		t.Errorf("Check with Users allowed to read: %v, want ErrReadableByOthers", err)
	}
	setDACL(t, path, privateSDDL(user))
	if err := Check(path); err != nil {
		t.Errorf("Check with an owner-only DACL: %v", err)
	}
}

func setDACL(t *testing.T, path, sddl string) {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		t.Fatal(err)
	}
}
