// Package delivery writes secrets that are delivered as files (as=file,
// --deliver file) into memory-backed storage that only the child can read,
// and removes them when hush exits.
//
// The layout is chosen so that a hostile child cannot redirect hush's
// writes (hush usually runs as root and the child as someone else):
//
//	/dev/shm/hush-RANDOM/       hush's user, 0711: in the sticky /dev/shm
//	                            only its owner may rename or remove it
//	         RANDOM2/           hush's user, 0711: the child can reach a file
//	                            whose name it knows, but cannot list, add,
//	                            rename or replace anything; the name cannot
//	                            be guessed by other users, who cannot list
//	                            the parent
//	                 DB_PASSWORD   the child's user, 0400
//
// Every operation after Open is relative to directory descriptors hush holds
// open (openat, renameat, unlinkat with O_NOFOLLOW): no path is walked
// again, so even a child that runs as hush's own user and moves the
// directories away cannot make hush write, or leave a secret, anywhere else.
package delivery

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// DefaultBase is a tmpfs in every Docker and Kubernetes container.
const DefaultBase = "/dev/shm"

// dirMode lets the child traverse both directories and nothing else.
const dirMode = 0o711

// maxNameLen is NAME_MAX on Linux.
const maxNameLen = 255

// Dir is a private directory of secret files.
type Dir struct {
	mu        sync.Mutex
	base      *os.File // the tmpfs (kept open to remove outer by name, without a re-walk)
	outer     *os.File // base/hush-RANDOM
	outerName string
	inner     *os.File // outer/RANDOM2: the secret files
	innerName string
	path      string // where the child finds the files: base/outerName/innerName
	uid, gid  int
	closed    bool
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
	baseDir, err := os.OpenFile(base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("secret files directory %s: %w%s", base, err, missingHint(err))
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(baseDir.Fd()), &st); err != nil {
		baseDir.Close()
		return nil, fmt.Errorf("secret files directory %s: %w", base, err)
	}
	if !inMemory(int64(st.Type)) {
		baseDir.Close()
		return nil, fmt.Errorf("secret files directory %s is not a tmpfs or ramfs (filesystem type %#x); "+
			"set HUSH_FILES_DIR to a memory filesystem", base, st.Type)
	}
	d := &Dir{base: baseDir, uid: uid, gid: gid}
	d.outer, d.outerName, err = makeDir(baseDir, "hush-")
	if err != nil {
		baseDir.Close()
		return nil, fmt.Errorf("create secret files directory in %s: %w", base, err)
	}
	d.inner, d.innerName, err = makeDir(d.outer, "")
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("create secret files directory in %s: %w", base, err)
	}
	d.path = filepath.Join(base, d.outerName, d.innerName)
	return d, nil
}

// Path is where the child finds the files: Write's name for variable X is
// Path()+"/"+FileName(X). The plan needs it before writing, to check the
// whole environment first.
func (d *Dir) Path() string { return d.path }

// missingHint says what to do when the base does not exist: `docker run
// --ipc none` has no /dev/shm at all.
func missingHint(err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return "; mount a tmpfs there or set HUSH_FILES_DIR to a memory filesystem"
	}
	return ""
}

// makeDir creates a directory with a random name in parent and opens it
// without following a symlink. The random part is 128 bits: nobody can
// create the name first, and nobody who cannot list parent can find it.
func makeDir(parent *os.File, prefix string) (*os.File, string, error) {
	pfd := int(parent.Fd())
	for range 10 {
		r, err := randomName()
		if err != nil {
			return nil, "", err
		}
		name := prefix + r
		err = unix.Mkdirat(pfd, name, dirMode)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			_ = unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
			return nil, "", err
		}
		// Fchmod makes the mode independent of the umask.
		if err := unix.Fchmod(fd, dirMode); err != nil {
			unix.Close(fd)
			_ = unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
			return nil, "", err
		}
		return os.NewFile(uintptr(fd), name), name, nil
	}
	return nil, "", errors.New("no free directory name after 10 tries")
}

// randomName is 128 random bits in hex, from getrandom(2) directly:
// crypto/rand would add its generator's code to the smallest build, for
// names that only need to be unguessable.
func randomName() (string, error) {
	b := make([]byte, 16)
	if _, err := unix.Getrandom(b, 0); err != nil {
		return "", fmt.Errorf("random name: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// FileName is the name of variable name's file: letters, digits, '_' and
// '-' as they are, '.' except in front, everything else (including '%')
// as %XX. Distinct variables always get distinct files ("A B" is A%20B,
// "A_B" is A_B), and no name can be ".", ".." or a temporary file's.
func FileName(name string) (string, error) {
	if name == "" {
		return "", errors.New("an empty variable name cannot be a file name")
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '_' || c == '-' || (c == '.' && i > 0) ||
			(c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if ok {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	if b.Len() > maxNameLen {
		return "", fmt.Errorf("the variable name is too long for a file name (%d bytes, at most %d)", b.Len(), maxNameLen)
	}
	return b.String(), nil
}

// Write stores value as the file for variable name and returns its path. It
// replaces an earlier version atomically (write, then rename), so a child that
// reads the file on a reload signal sees either the old or the new secret,
// never half of one. Errors do not repeat the variable name: the caller
// names the variable once.
func (d *Dir) Write(name string, value []byte) (string, error) {
	file, err := FileName(name)
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return "", errors.New("write secret file: the secret files directory is already removed")
	}
	dfd := int(d.inner.Fd())
	r, err := randomName()
	if err != nil {
		return "", fmt.Errorf("write secret file: %w", err)
	}
	tmp := ".tmp-" + r
	// O_EXCL never follows a symlink and never opens an existing file;
	// O_NOFOLLOW says the same for the reader.
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o400)
	if err != nil {
		return "", fmt.Errorf("write secret file: %w", err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, werr := f.Write(value)
	err = errors.Join(werr, f.Chown(d.uid, d.gid), f.Chmod(0o400), f.Close())
	if err == nil {
		// renameat replaces whatever has the final name, a symlink
		// included, without following it.
		err = unix.Renameat(dfd, tmp, dfd, file)
	}
	if err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
		return "", fmt.Errorf("write secret file: %w", err)
	}
	return d.path + "/" + file, nil
}

// Close removes every file and both directories. It works through the
// descriptors, so it removes what is inside the directories hush created,
// wherever they are now, and never follows a symlink out of them. A second
// Close does nothing.
func (d *Dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	if d.inner != nil {
		errs = append(errs, removeContents(d.inner, 0))
		d.inner.Close()
	}
	if d.outer != nil {
		// Only hush (and a child running as hush's own user) can add to
		// outer: whatever is there, the renamed inner directory included,
		// goes.
		errs = append(errs, removeContents(d.outer, 0))
		d.outer.Close()
		if err := unix.Unlinkat(int(d.base.Fd()), d.outerName, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
		}
	}
	d.base.Close()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove secret files: %w", err)
	}
	return nil
}

// maxDepth bounds removeContents: hush itself creates no subdirectory in
// inner, so anything deeper was made to waste its time.
const maxDepth = 8

// removeContents empties the directory dir through its descriptor, opening
// subdirectories with O_NOFOLLOW so that a symlink is removed, never
// followed.
func removeContents(dir *os.File, depth int) error {
	if depth > maxDepth {
		return errors.New("directories nested too deep")
	}
	if _, err := dir.Seek(0, 0); err != nil {
		return err
	}
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return err
	}
	fd := int(dir.Fd())
	var errs []error
	for _, n := range names {
		err := unix.Unlinkat(fd, n, 0)
		if errors.Is(err, unix.EISDIR) {
			err = removeDirAt(fd, n, depth+1)
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

func removeDirAt(parent int, name string, depth int) error {
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	sub := os.NewFile(uintptr(fd), name)
	err = removeContents(sub, depth)
	sub.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(parent, name, unix.AT_REMOVEDIR)
}
