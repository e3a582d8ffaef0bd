// Package delivery writes secrets that are delivered as files (as=file,
// --deliver file) into memory-backed storage that only the child can read,
// and removes them when hush exits.
package delivery

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// DefaultBase is a tmpfs in every Docker and Kubernetes container.
const DefaultBase = "/dev/shm"

// Dir is a private directory of secret files.
type Dir struct {
	path     string
	uid, gid int
}

// inMemory reports whether a filesystem's pages never reach a disk.
func inMemory(fsType int64) bool {
	return fsType == unix.TMPFS_MAGIC || fsType == unix.RAMFS_MAGIC
}

// Open creates a fresh private directory under base (DefaultBase when empty).
// base must be a tmpfs or ramfs: a secret written to a disk outlives the
// container in the image's writable layer, snapshots and backups. uid and gid
// own the files (the child's user), so that a child running as someone else
// can read them and nobody else can.
func Open(base string, uid, gid int) (*Dir, error) {
	if base == "" {
		base = DefaultBase
	}
	var st unix.Statfs_t
	if err := unix.Statfs(base, &st); err != nil {
		return nil, fmt.Errorf("secret files directory %s: %w", base, err)
	}
	if !inMemory(int64(st.Type)) {
		return nil, fmt.Errorf("secret files directory %s is not a tmpfs or ramfs (filesystem type %#x); "+
			"set HUSH_FILES_DIR to a memory filesystem", base, st.Type)
	}
	path, err := os.MkdirTemp(base, "hush-")
	if err != nil {
		return nil, fmt.Errorf("create secret files directory: %w", err)
	}
	// 0700 and owned by the child's user: nobody else may even list the
	// names. MkdirTemp already uses 0700; the chmod makes it independent of
	// the umask.
	if err := os.Chmod(path, 0o700); err != nil {
		os.RemoveAll(path)
		return nil, fmt.Errorf("secret files directory: %w", err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		os.RemoveAll(path)
		return nil, fmt.Errorf("secret files directory: %w", err)
	}
	return &Dir{path: path, uid: uid, gid: gid}, nil
}

// Path is the directory's location.
func (d *Dir) Path() string { return d.path }

// fileName keeps a variable name usable as a file name.
func fileName(name string) string {
	b := []byte(name)
	for i, c := range b {
		ok := c == '_' || c == '.' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

// Write stores value as the file for variable name and returns its path. It
// replaces an earlier version atomically (write, then rename), so a child that
// reads the file on a reload signal sees either the old or the new secret,
// never half of one.
func (d *Dir) Write(name string, value []byte) (string, error) {
	file := fileName(name)
	if file == "" || file == "." || file == ".." {
		return "", fmt.Errorf("%s: cannot be used as a file name", name)
	}
	final := filepath.Join(d.path, file)
	tmp, err := os.CreateTemp(d.path, ".tmp-")
	if err != nil {
		return "", fmt.Errorf("%s: write secret file: %w", name, err)
	}
	cleanup := func() { os.Remove(tmp.Name()) }
	if _, err := tmp.Write(value); err != nil {
		tmp.Close()
		cleanup()
		return "", fmt.Errorf("%s: write secret file: %w", name, err)
	}
	err = errors.Join(tmp.Chmod(0o400), tmp.Chown(d.uid, d.gid), tmp.Close())
	if err != nil {
		cleanup()
		return "", fmt.Errorf("%s: write secret file: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		cleanup()
		return "", fmt.Errorf("%s: write secret file: %w", name, err)
	}
	return final, nil
}

// Close removes the directory and every secret in it.
func (d *Dir) Close() error {
	if err := os.RemoveAll(d.path); err != nil {
		return fmt.Errorf("remove secret files: %w", err)
	}
	return nil
}
