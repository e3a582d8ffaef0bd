package file

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/hushinit/hush/sources"
)

// Watch implements sources.Watcher with inotify, which costs nothing while
// nothing changes. For each referenced file it watches:
//
//   - the directory the reference names, which sees an in-place write, an
//     atomic rename over the file, deletion and re-creation, and the
//     Kubernetes AtomicWriter swap (a new ..TIMESTAMP directory, then
//     ..data_tmp renamed over ..data);
//   - the file itself (its inode), which sees in-place writes to a
//     bind-mounted single file (Docker Compose secrets), whose writes
//     happen under another parent directory on the host;
//   - the same two for the symlink's final target, when it differs.
//
// After every event the set is recomputed, because a swap or a re-creation
// changes which inodes the paths lead to.
//
// Not seen: a bind-mounted single file replaced by rename on the host. The
// mount keeps the old inode, so the container — hush and the app alike —
// goes on seeing the old content; write such files in place or mount their
// directory. hush cannot read the new content, but it can tell: the rename
// drops the old inode's link count to 0, which inotify reports on the file
// (IN_ATTRIB) and a poll's stat shows, and a path that still leads to an
// inode with no links can only be such a mount. hush then warns once per
// file, naming the variables and the fix, and keeps the child.
//
// Filesystems where inotify is blind to other machines' writes (NFS, CIFS,
// FUSE, 9p) are polled with stat every opts.PollInterval instead.
func (b *Backend) Watch(ctx context.Context, keys []sources.GroupKey, opts sources.WatchOptions, notify func(sources.GroupKey)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	fw := &fileWatch{
		b:       b,
		fs:      w,
		keys:    keys,
		opts:    opts,
		notify:  notify,
		watched: map[string]bool{},
		stats:   map[sources.GroupKey]fileStat{},
		stale:   map[sources.GroupKey]bool{},
	}
	fw.sync()
	if !b.watches.Go(ctx, fw.loop) {
		w.Close()
		return errors.New("the file backend is closed")
	}
	return nil
}

// Close implements sources.Closer: it ends every watch and waits for its
// goroutine.
func (b *Backend) Close(ctx context.Context) error {
	return b.watches.Stop(ctx)
}

type fileWatch struct {
	b       *Backend
	fs      *fsnotify.Watcher
	keys    []sources.GroupKey
	opts    sources.WatchOptions
	notify  func(sources.GroupKey)
	watched map[string]bool
	polled  []sources.GroupKey
	stats   map[sources.GroupKey]fileStat
	stale   map[sources.GroupKey]bool // replaced under a bind mount: warned
}

// paths are the names a key's file goes by: as referenced and as resolved
// through symlinks.
func (fw *fileWatch) paths(k sources.GroupKey) []string {
	abs := fw.b.Abs(k.Path)
	out := []string{abs}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		out = append(out, real)
	}
	return out
}

// sync brings the inotify watches in line with where the files are now.
func (fw *fileWatch) sync() {
	want := map[string]bool{}
	fw.polled = fw.polled[:0]
	for _, k := range fw.keys {
		paths := fw.paths(k)
		if needsPolling(paths[0]) {
			fw.polled = append(fw.polled, k)
			if _, ok := fw.stats[k]; !ok {
				fw.stats[k] = statOf(paths[0])
			}
			continue
		}
		for _, p := range paths {
			want[p] = true
			want[filepath.Dir(p)] = true
		}
	}
	for p := range fw.watched {
		if !want[p] {
			_ = fw.fs.Remove(p) // may already be gone with its inode
			delete(fw.watched, p)
		}
	}
	for p := range want {
		if fw.watched[p] {
			continue
		}
		// A path that does not exist yet (deleted, about to be
		// re-created) is watched through its directory.
		if err := fw.fs.Add(p); err == nil {
			fw.watched[p] = true
		}
	}
}

func (fw *fileWatch) loop(ctx context.Context) {
	defer fw.fs.Close()
	var tick <-chan time.Time
	if len(fw.polled) > 0 && fw.opts.PollInterval > 0 {
		t := time.NewTicker(fw.opts.PollInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.fs.Events:
			if !ok {
				return
			}
			fw.event(ev)
		case err, ok := <-fw.fs.Errors:
			if !ok {
				return
			}
			// An overflowed queue lost events: assume everything moved.
			if fw.opts.Logger != nil {
				fw.opts.Logger.Warn("file watch error; re-reading every file", "err", err.Error())
			}
			for _, k := range fw.keys {
				fw.notify(k)
			}
			fw.sync()
		case <-tick:
			fw.poll()
		}
	}
}

func (fw *fileWatch) event(ev fsnotify.Event) {
	for _, k := range fw.keys {
		if !fw.concerns(k, ev.Name) {
			continue
		}
		// fsnotify reports IN_ATTRIB as Chmod; it is also how a link
		// count dropping to 0 shows, so look for a replaced mount.
		fw.checkReplacedMount(k)
		if ev.Op != fsnotify.Chmod { // a chmod changes no content
			fw.notify(k)
		}
	}
	if ev.Op != fsnotify.Chmod {
		fw.sync()
	}
}

// checkReplacedMount warns, once per file, when key's path leads to an
// inode without links: a bind-mounted single file whose host file was
// replaced (an editor's save, sed -i, a tool writing a new file and renaming
// it). The container keeps the old inode for as long as the mount exists, so
// no change will ever reach hush or the child; the child keeps its secrets.
func (fw *fileWatch) checkReplacedMount(k sources.GroupKey) {
	if fw.stale[k] || fw.opts.Logger == nil {
		return
	}
	var st unix.Stat_t
	if err := unix.Stat(fw.b.Abs(k.Path), &st); err != nil || st.Nlink != 0 {
		return
	}
	fw.stale[k] = true
	fw.opts.Logger.Warn("secret file was replaced outside the container, which still sees the old one; "+
		"the child keeps its current secrets and no later change of this file can reach it",
		"vars", fw.opts.Vars[k], "path", fw.b.Abs(k.Path),
		"fix", "mount the file's directory instead of the single file, or write the file in place (cat new > file) instead of replacing it")
}

// concerns reports whether an event on name can change key's content: the
// file itself under either of its names, or a Kubernetes-style ..data entry
// next to them.
func (fw *fileWatch) concerns(k sources.GroupKey, name string) bool {
	base := filepath.Base(name)
	for _, p := range fw.paths(k) {
		if name == p {
			return true
		}
		if strings.HasPrefix(base, "..") && filepath.Dir(name) == filepath.Dir(p) {
			return true
		}
	}
	// The old symlink target disappears in a swap: paths() already points
	// at the new one, so compare against the directory chain too.
	return strings.HasPrefix(base, "..") && strings.HasPrefix(fw.b.Abs(k.Path), filepath.Dir(name)+"/")
}

func (fw *fileWatch) poll() {
	for _, k := range fw.polled {
		st := statOf(fw.b.Abs(k.Path))
		if st != fw.stats[k] {
			fw.stats[k] = st
			fw.checkReplacedMount(k)
			fw.notify(k)
		}
	}
}

// fileStat is what a poll compares: any write or replacement changes one of
// these.
type fileStat struct {
	dev, ino   uint64
	size       int64
	mtime, ctm int64
	missing    bool
}

func statOf(path string) fileStat {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileStat{missing: true}
	}
	return fileStat{
		dev: st.Dev, ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctm: st.Ctim.Nano(),
	}
}

// Filesystems on which inotify does not see writes made elsewhere.
const (
	nfsMagic  = 0x6969
	smbMagic  = 0x517b
	cifsMagic = 0xff534d42
	smb2Magic = 0xfe534d42
	fuseMagic = 0x65735546
	v9pMagic  = 0x01021997
)

// needsPolling looks at the file's own filesystem (a bind-mounted file sits
// on the host's, whatever its directory is on), or its directory's while the
// file is missing.
func needsPolling(path string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
			return false
		}
	}
	switch uint32(st.Type) {
	case nfsMagic, smbMagic, cifsMagic, smb2Magic, fuseMagic, v9pMagic:
		return true
	}
	return false
}
