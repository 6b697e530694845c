package osfile

import (
	"errors"
	"fmt"
)

// ErrReadableByOthers is what Check reports for a private file others can read.
var ErrReadableByOthers = errors.New("readable by others")

// ACE is one entry of a Windows DACL, reduced to what judge needs.
type ACE struct {
	Allow bool   // an allow entry; deny entries are ignored (see judge)
	SID   string // S-1-5-…
	Mask  uint32 // access mask
}

// Access bits that let someone read a file, or give themselves the right to.
const (
	fileReadData = 0x00000001
	writeDAC     = 0x00040000
	writeOwner   = 0x00080000
	genericAll   = 0x10000000
	genericRead  = 0x80000000
	readRights   = fileReadData | writeDAC | writeOwner | genericAll | genericRead
)

// SIDs that may read any private file: they can read every file of the user anyway.
const (
	sidSystem         = "S-1-5-18"
	sidAdministrators = "S-1-5-32-544"
	sidOwnerRights    = "S-1-3-4"
)

// judge decides whether a file with this owner and DACL is private to user. It
// returns the SID of the first entry that lets someone else read the file, or
// "Everyone (no DACL)" when there is no DACL at all. Deny entries are ignored, so a
// file that grants Users read but denies it again is still refused: being strict
// here costs a user an icacls run, being lax costs a key.
func judge(owner, user string, hasDACL bool, dacl []ACE) (who string, private bool) {
	if !hasDACL {
		return "Everyone (no DACL)", false
	}
	for _, e := range dacl {
		if !e.Allow || e.Mask&readRights == 0 {
			continue
		}
		switch e.SID {
		case owner, user, sidSystem, sidAdministrators, sidOwnerRights:
			continue
		}
		return e.SID, false
	}
	return "", true
}

// privateSDDL is the security descriptor a new private file gets on Windows: a
// protected DACL (nothing inherited from the folder) with one entry, full access for
// user.
func privateSDDL(user string) string {
	return "D:P(A;;FA;;;" + user + ")"
}

// aclError is Check's error on Windows.
func aclError(path, who string) error {
	return fmt.Errorf("%w (the ACL lets %s read it): run `icacls \"%s\" /inheritance:r /grant:r \"%%USERNAME%%:F\"` and remove every other entry `icacls \"%s\"` lists",
		ErrReadableByOthers, who, path, path)
}

// modeError is Check's error on Unix.
func modeError(path string, mode uint32) error {
	return fmt.Errorf("%w (mode %04o): run `chmod 600 %s`", ErrReadableByOthers, mode, path)
}
