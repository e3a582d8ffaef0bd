package shim

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestSameIDs(t *testing.T) {
	t.Parallel()
	status := "Name:\tnode\nUid:\t65534\t65534\t65534\t65534\nGid:\t100\t100\t100\t100\n"
	mixed := "Uid:\t1000\t0\t1000\t0\nGid:\t100\t100\t100\t100\n"
	tests := []struct {
		status, key string
		want        int
		ok          bool
	}{
		{status, "Uid:", 65534, true},
		{status, "Gid:", 100, true},
		{mixed, "Uid:", 0, false}, // setuid program: no one identity matches
		{mixed, "Gid:", 100, true},
		{"Uid:\t1\t1\n", "Uid:", 0, false},
		{"", "Uid:", 0, false},
	}
	for _, tt := range tests {
		got, ok := sameIDs([]byte(tt.status), tt.key)
		if got != tt.want || ok != tt.ok {
			t.Errorf("sameIDs(%q, %s) = %d, %v; want %d, %v", tt.status, tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

// TestAsUser: the read runs with another file-system identity (a root-only
// file is refused to it), and no thread of hush keeps that identity after
// (the same file opens everywhere afterwards).
func TestAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to change file-system ids")
	}
	rootOnly := filepath.Join(t.TempDir(), "root-only")
	if err := os.WriteFile(rootOnly, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		_, err := asUser(65534, 65534, func() (bool, error) {
			_, err := os.ReadFile(rootOnly)
			return false, err
		})
		if !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("reading a root-only file as nobody: %v, want permission denied", err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := os.ReadFile(rootOnly); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("after asUser, a goroutine ran as another user: %v", err)
	}
}
