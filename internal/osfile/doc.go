// Package osfile holds the few file-system calls whose right form depends on the OS:
// creating and checking private files (the identity and network keys, the API token,
// the archive) and measuring free space.
//
// A private file is one only its owner can read:
//
//	Unix     mode 0600 at creation; Check refuses any group or other bit (as ssh does).
//	Windows  created with a protected DACL granting full access to the current user
//	         only (no inherited entries); Check reads the DACL and refuses an allow
//	         entry that lets anyone but the owner, the current user, SYSTEM or the
//	         Administrators read the file or rewrite its ACL, and a missing (null) DACL.
//
// Go reports every writable Windows file as mode 0666, so the Unix mode check would
// refuse every key there; that is why the check reads the ACL on Windows. The decision
// (judge) is plain Go, tested on every OS; only the reading of the DACL is Windows code.
//
// Free space: statfs(2) f_bavail on Linux and macOS, GetDiskFreeSpaceEx (the bytes
// available to this user, quotas included) on Windows, unknown elsewhere.
package osfile
