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
		if filepath.Dir(d.Path()) != DefaultBase || !strings.HasPrefix(filepath.Base(d.Path()), "hush-") {
			t.Errorf("Open(%q).Path() = %s, want %s/hush-*", base, d.Path(), DefaultBase)
		}
		mode, uid, gid := owner(t, d.Path())
		if !mode.IsDir() || mode.Perm() != 0o700 {
			t.Errorf("directory mode %v, want drwx------", mode)
		}
		if uid != os.Getuid() || gid != os.Getgid() {
			t.Errorf("directory owned by %d:%d", uid, gid)
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
	if mode, _, _ := owner(t, d.Path()); mode.Perm() != 0o700 {
		t.Errorf("directory mode %v under umask 077, want 0700", mode)
	}
}

func TestWrite(t *testing.T) {
	t.Parallel()
	d := open(t, os.Getuid(), os.Getgid())
	path, err := d.Write("DB_PASSWORD", []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(d.Path(), "DB_PASSWORD") {
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

	entries, err := os.ReadDir(d.Path())
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
		{"A/B", "A_B"},
		{"../../etc/passwd", ".._.._etc_passwd"},
		{"a.b-c_D9", "a.b-c_D9"},
		{"with space", "with_space"},
		{"ü", "__"},
		{"...", "..."},
		{"", ""},
		{".", ""},
		{"..", ""},
	}
	for _, tt := range tests {
		if got := fileName(tt.name); tt.file != "" && got != tt.file {
			t.Errorf("fileName(%q) = %q, want %q", tt.name, got, tt.file)
		}
		path, err := d.Write(tt.name, []byte("v"))
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
		if path != filepath.Join(d.Path(), tt.file) {
			t.Errorf("Write(%q) = %s, want %s", tt.name, path, filepath.Join(d.Path(), tt.file))
		}
	}
	// Nothing escaped the directory, and no temporary file was left by
	// the refused names.
	entries, _ := os.ReadDir(d.Path())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestWriteChown(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	const nobody = 65534
	d := open(t, nobody, nobody)
	if _, uid, gid := owner(t, d.Path()); uid != nobody || gid != nobody {
		t.Errorf("directory owned by %d:%d, want %d:%d", uid, gid, nobody, nobody)
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
	if _, err := os.Lstat(d.Path()); !os.IsNotExist(err) {
		t.Errorf("after Close, %s: %v", d.Path(), err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
