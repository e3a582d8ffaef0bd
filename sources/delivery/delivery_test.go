package delivery

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// shmBase is where the tests may create secret directories: /dev/shm, which
// must be a tmpfs for them to mean anything.
func shmBase(t *testing.T) string {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(DefaultBase, &st); err != nil {
		t.Skipf("no %s: %v", DefaultBase, err)
	}
	if !inMemory(int64(st.Type)) {
		t.Skipf("%s is not a tmpfs here (type %#x)", DefaultBase, st.Type)
	}
	return DefaultBase
}

func open(t *testing.T, uid, gid int) *Dir {
	t.Helper()
	d, err := Open(shmBase(t), uid, gid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func owner(t *testing.T, path string) (mode os.FileMode, uid, gid int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode(), int(st.Uid), int(st.Gid)
}

func TestOpenRefusesDisk(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(base, &st); err != nil {
		t.Fatal(err)
	}
	if inMemory(int64(st.Type)) {
		t.Skipf("t.TempDir() %s is itself a tmpfs/ramfs here, so there is no disk directory to refuse", base)
	}
	d, err := Open(base, os.Getuid(), os.Getgid())
	if err == nil {
		d.Close()
		t.Fatalf("Open(%s) on a disk filesystem succeeded", base)
	}
	for _, part := range []string{"HUSH_FILES_DIR", base, "not a tmpfs"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not contain %q", err, part)
		}
	}
	entries, _ := os.ReadDir(base)
	if len(entries) != 0 {
		t.Errorf("Open left %d entries in the refused directory", len(entries))
	}
}

func TestOpenMissingBase(t *testing.T) {
	t.Parallel()
	base := filepath.Join(t.TempDir(), "missing")
	if _, err := Open(base, 0, 0); err == nil || !strings.Contains(err.Error(), base) {
		t.Errorf("Open(missing) error = %v, want one naming %s", err, base)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	for _, base := range []string{DefaultBase, ""} {
		shmBase(t)
		d, err := Open(base, os.Getuid(), os.Getgid())
		if err != nil {
			t.Fatalf("Open(%q): %v", base, err)
		}
		outer := filepath.Dir(d.path)
		if filepath.Dir(outer) != DefaultBase || !strings.HasPrefix(filepath.Base(outer), "hush-") {
			t.Errorf("Open(%q): files in %s, want %s/hush-*/*", base, d.path, DefaultBase)
		}
		for _, dir := range []string{outer, d.path} {
			mode, uid, gid := owner(t, dir)
			if !mode.IsDir() || mode.Perm() != 0o711 {
				t.Errorf("%s: mode %v, want drwx--x--x", dir, mode)
			}
			if uid != os.Getuid() || gid != os.Getgid() {
				t.Errorf("%s: owned by %d:%d", dir, uid, gid)
			}
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenUmask(t *testing.T) {
	// Not parallel: the umask is process-wide.
	shmBase(t)
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	d := open(t, os.Getuid(), os.Getgid())
	if mode, _, _ := owner(t, d.path); mode.Perm() != 0o711 {
		t.Errorf("directory mode %v under umask 077, want 0711", mode)
	}
}

func TestWrite(t *testing.T) {
	t.Parallel()
	d := open(t, os.Getuid(), os.Getgid())
	path, err := d.Write("DB_PASSWORD", []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(d.path, "DB_PASSWORD") {
		t.Errorf("path %s", path)
	}
	check := func(want string) {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("content %q, want %q", got, want)
		}
		mode, uid, gid := owner(t, path)
		if !mode.IsRegular() || mode.Perm() != 0o400 {
			t.Errorf("file mode %v, want -r--------", mode)
		}
		if uid != os.Getuid() || gid != os.Getgid() {
			t.Errorf("file owned by %d:%d", uid, gid)
		}
	}
	check("first")

	// A child holding the old file open keeps reading the old secret; the
	// name points at the new one.
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	path2, err := d.Write("DB_PASSWORD", []byte("second, longer"))
	if err != nil {
		t.Fatal(err)
	}
	if path2 != path {
		t.Errorf("second Write gave %s, want %s", path2, path)
	}
	check("second, longer")
	buf := make([]byte, 64)
	n, _ := old.Read(buf)
	if string(buf[:n]) != "first" {
		t.Errorf("the replaced file was changed in place: %q", buf[:n])
	}

	// Empty and binary values are written as is.
	if p, err := d.Write("EMPTY", nil); err != nil {
		t.Error(err)
	} else if b, _ := os.ReadFile(p); len(b) != 0 {
		t.Errorf("EMPTY holds %q", b)
	}
	if p, err := d.Write("BIN", []byte{0, 1, 2, '\n'}); err != nil {
		t.Error(err)
	} else if b, _ := os.ReadFile(p); string(b) != "\x00\x01\x02\n" {
		t.Errorf("BIN holds %q", b)
	}

	entries, err := os.ReadDir(d.path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "BIN,DB_PASSWORD,EMPTY" {
		t.Errorf("directory holds %q, want only the secrets (no temporary files)", names)
	}
}

func TestWriteNames(t *testing.T) {
	t.Parallel()
	d := open(t, os.Getuid(), os.Getgid())
	tests := []struct {
		name string
		file string // "" means an error
	}{
		{"A_B", "A_B"},
		{"A B", "A%20B"},
		{"A/B", "A%2FB"},
		{"A%20B", "A%2520B"},
		{"../../etc/passwd", "%2E.%2F..%2Fetc%2Fpasswd"},
		{"a.b-c_D9", "a.b-c_D9"},
		{"ü", "%C3%BC"},
		{".", "%2E"},
		{"..", "%2E."},
		{".tmp-x", "%2Etmp-x"},
		{"", ""},
		{strings.Repeat("A", 256), ""},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		path, err := d.Write(tt.name, []byte(tt.name))
		if tt.file == "" {
			if err == nil {
				t.Errorf("Write(%q) = %s, want an error", tt.name, path)
			}
			continue
		}
		if err != nil {
			t.Errorf("Write(%q): %v", tt.name, err)
			continue
		}
		if path != filepath.Join(d.path, tt.file) {
			t.Errorf("Write(%q) = %s, want %s", tt.name, path, filepath.Join(d.path, tt.file))
		}
		if other, ok := seen[path]; ok {
			t.Errorf("%q and %q share the file %s", tt.name, other, path)
		}
		seen[path] = tt.name
	}
	// Each variable still holds its own value: no two names share a file.
	for path, name := range seen {
		if b, err := os.ReadFile(path); err != nil || string(b) != name {
			t.Errorf("%s holds %q (%v), want %q", path, b, err, name)
		}
	}
	entries, _ := os.ReadDir(d.path)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestWriteHeldOpen: hush writes into the directory it created, wherever
// it is now, and replaces a symlink planted under a file's name instead of
// following it.
func TestWriteHeldOpen(t *testing.T) {
	t.Parallel()
	d := open(t, os.Getuid(), os.Getgid())
	elsewhere := t.TempDir()
	if err := os.Symlink(filepath.Join(elsewhere, "planted"), filepath.Join(d.path, "S")); err != nil {
		t.Fatal(err)
	}
	moved := d.path + ".moved"
	if err := os.Rename(d.path, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, d.path); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write("S", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("a write followed a symlink: %s holds %d entries", elsewhere, len(entries))
	}
	if b, err := os.ReadFile(filepath.Join(moved, "S")); err != nil || string(b) != "v" {
		t.Errorf("the held directory has S = %q (%v)", b, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(moved); !os.IsNotExist(err) {
		t.Errorf("the moved directory survived Close: %v", err)
	}
	os.Remove(d.path) // the test's own symlink
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("Close touched %s", elsewhere)
	}
}

func TestWriteChown(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	const nobody = 65534
	d := open(t, nobody, nobody)
	// The directory stays hush's: an owner could rename it or add to it.
	if _, uid, _ := owner(t, d.path); uid != 0 {
		t.Errorf("directory owned by uid %d, want 0", uid)
	}
	path, err := d.Write("TOKEN", []byte("t"))
	if err != nil {
		t.Fatal(err)
	}
	mode, uid, gid := owner(t, path)
	if uid != nobody || gid != nobody || mode.Perm() != 0o400 {
		t.Errorf("file %v owned by %d:%d, want -r-------- %d:%d", mode, uid, gid, nobody, nobody)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	shmBase(t)
	d, err := Open(DefaultBase, os.Getuid(), os.Getgid())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"A", "B"} {
		if _, err := d.Write(name, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{d.path, filepath.Dir(d.path)} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("after Close, %s: %v", p, err)
		}
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
