package osfile

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// OpenPrivate opens path like os.OpenFile; a file it creates gets a protected DACL
// that grants the current user full access and nobody else anything. An existing
// file keeps its ACL (Check is the place that looks at it).
func OpenPrivate(path string, flag int) (*os.File, error) {
	user, err := currentUser()
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	sd, err := windows.SecurityDescriptorFromString(privateSDDL(user))
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	name, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	access, disposition := createFlags(flag)
	h, err := windows.CreateFile(name, access,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		sa, disposition, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}

// createFlags maps os.OpenFile flags to CreateFile's access and disposition.
func createFlags(flag int) (access, disposition uint32) {
	switch flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR) {
	case os.O_WRONLY:
		access = windows.GENERIC_WRITE
	case os.O_RDWR:
		access = windows.GENERIC_READ | windows.GENERIC_WRITE
	default:
		access = windows.GENERIC_READ
	}
	switch {
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		disposition = windows.CREATE_NEW
	case flag&(os.O_CREATE|os.O_TRUNC) == os.O_CREATE|os.O_TRUNC:
		disposition = windows.CREATE_ALWAYS
	case flag&os.O_CREATE != 0:
		disposition = windows.OPEN_ALWAYS
	case flag&os.O_TRUNC != 0:
		disposition = windows.TRUNCATE_EXISTING
	default:
		disposition = windows.OPEN_EXISTING
	}
	return access, disposition
}

// Check returns an error wrapping ErrReadableByOthers if the DACL of path lets anyone
// but its owner, the current user, SYSTEM or the Administrators read it.
func Check(path string) error {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return &os.PathError{Op: "read ACL", Path: path, Err: err}
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return &os.PathError{Op: "read owner", Path: path, Err: err}
	}
	user, err := currentUser()
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err == windows.ERROR_OBJECT_NOT_FOUND || dacl == nil {
		who, _ := judge(owner.String(), user, false, nil)
		return aclError(path, who)
	}
	if err != nil {
		return &os.PathError{Op: "read DACL", Path: path, Err: err}
	}
	aces, err := entries(dacl)
	if err != nil {
		return &os.PathError{Op: "read DACL", Path: path, Err: err}
	}
	if who, ok := judge(owner.String(), user, true, aces); !ok {
		return aclError(path, who)
	}
	return nil
}

// entries reads the allow and deny entries of a DACL (other entry types, such as
// audit or object entries, are skipped).
func entries(dacl *windows.ACL) ([]ACE, error) {
	var out []ACE
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return nil, err
		}
		t := ace.Header.AceType
		if t != windows.ACCESS_ALLOWED_ACE_TYPE && t != windows.ACCESS_DENIED_ACE_TYPE {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		out = append(out, ACE{Allow: t == windows.ACCESS_ALLOWED_ACE_TYPE, SID: sid.String(), Mask: uint32(ace.Mask)})
	}
	return out, nil
}

// currentUser is the SID of the user this process runs as.
func currentUser() (string, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("read the current user's SID: %w", err)
	}
	return tu.User.Sid.String(), nil
}
