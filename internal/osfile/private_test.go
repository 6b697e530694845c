package osfile

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestWritePrivateIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := WritePrivate(path, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if err := Check(path); err != nil {
		t.Errorf("Check of a file WritePrivate made: %v", err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "secret" {
		t.Errorf("read back %q, %v", data, err)
	}
	if err := WritePrivate(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "new" {
		t.Errorf("WritePrivate did not truncate: %q", data)
	}
}

func TestOpenPrivateExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	f, err := OpenPrivate(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := OpenPrivate(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL); !errors.Is(err, os.ErrExist) {
		t.Errorf("second exclusive create: %v, want os.ErrExist", err)
	}
}

func TestCheckRefusesAPublicFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("a Windows temp folder is often private already: TestCheckReadsTheACL sets one")
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	if err := Check(path); !errors.Is(err, ErrReadableByOthers) {
		t.Errorf("Check of a 0644 file: %v, want ErrReadableByOthers", err)
	}
}

func TestFreeSpace(t *testing.T) {
	n, err := FreeSpace(t.TempDir())
	switch runtime.GOOS {
	case "linux", "darwin", "windows":
		if err != nil || n <= 0 {
			t.Fatalf("FreeSpace = %d, %v", n, err)
		}
		t.Logf("free space under %s: %d MiB", os.TempDir(), n>>20)
	default:
		if err == nil {
			t.Errorf("FreeSpace on %s should say it is unknown", runtime.GOOS)
		}
	}
}
