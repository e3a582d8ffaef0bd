package shim

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pollsListener reports whether process pid has registered one of the
// listening sockets (by inode) in an epoll instance: the moment an epoll
// server (Node's libuv, Go's netpoller, Python's asyncio, nginx) starts
// accepting. /proc/PID/fdinfo of an epoll descriptor lists each watched
// descriptor as "tfd: N events: ...". A server that blocks in accept(2), or
// waits with select/poll, is not seen this way (docs/zero-downtime.md):
// READY=1 or --ready-delay cover it.
//
// Reading another process's descriptors is a ptrace-style access: a caller
// of another user needs CAP_SYS_PTRACE, which Docker does not grant, so
// with --user hush (root) is refused there. The kernel compares the
// caller's file-system identity with the target's, so hush then reads as
// the target's user (asUser); denied is true only when that is refused too
// (a process that made itself non-dumpable, or a hush that is not root).
func pollsListener(pid int, inodes map[uint64]bool) (polls, denied bool) {
	polls, err := scanEpolls(pid, inodes)
	if errors.Is(err, fs.ErrPermission) {
		if uid, gid, ok := soleOwner(pid); ok {
			polls, err = asUser(uid, gid, func() (bool, error) { return scanEpolls(pid, inodes) })
		}
	}
	return polls, errors.Is(err, fs.ErrPermission)
}

// scanEpolls looks through pid's epoll descriptors for one that watches a
// listening socket. A refusal is returned (the kernel refuses readlink and
// fdinfo, not the listing of the fd directory); a descriptor closed while
// it is looked at is not an error.
func scanEpolls(pid int, inodes map[uint64]bool) (bool, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	entries, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		link, err := os.Readlink(dir + "/fd/" + e.Name())
		if errors.Is(err, fs.ErrPermission) {
			return false, err
		}
		if err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile(dir + "/fdinfo/" + e.Name())
		if errors.Is(err, fs.ErrPermission) {
			return false, err
		}
		if err != nil {
			continue
		}
		for _, tfd := range epollTargets(info) {
			target, err := os.Readlink(dir + "/fd/" + strconv.Itoa(tfd))
			if err != nil {
				continue
			}
			if ino, ok := socketInode(target); ok && inodes[ino] {
				return true, nil
			}
		}
	}
	return false, nil
}

// soleOwner returns the user and group pid runs as, if its real, effective
// and saved ids agree: the kernel lets a caller whose file-system ids equal
// all of them read its descriptors, and no single identity matches a
// process whose ids differ.
func soleOwner(pid int) (uid, gid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, false
	}
	uid, uok := sameIDs(b, "Uid:")
	gid, gok := sameIDs(b, "Gid:")
	return uid, gid, uok && gok
}

// sameIDs parses a "Uid:" or "Gid:" line of /proc/PID/status (real,
// effective, saved, file-system) and returns the id if the first three are
// one.
func sameIDs(status []byte, key string) (int, bool) {
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != key {
			continue
		}
		if f[1] != f[2] || f[1] != f[3] {
			return 0, false
		}
		id, err := strconv.Atoi(f[1])
		return id, err == nil
	}
	return 0, false
}

// asUser runs read with the file-system user and group of one OS thread
// set to uid and gid, and only that thread: setfsuid(2) is per thread, so
// hush's other goroutines keep root's identity throughout. The thread is
// handed back to the Go scheduler only once it is root again; if that
// cannot be verified, the goroutine ends still locked to it, which makes
// the runtime discard the thread.
func asUser(uid, gid int, read func() (bool, error)) (bool, error) {
	type result struct {
		polls bool
		err   error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		oldUID, oldGID, ok := switchFS(uid, gid)
		r := result{err: fs.ErrPermission}
		if ok {
			r.polls, r.err = read()
		}
		if restoreFS(oldUID, oldGID) {
			runtime.UnlockOSThread()
		}
		done <- r
	}()
	r := <-done
	return r.polls, r.err
}

// switchFS sets this thread's file-system ids and reports whether both
// took effect; setfsuid reports no error, so each is read back (an id of -1
// changes nothing and returns the current one).
func switchFS(uid, gid int) (oldUID, oldGID int, ok bool) {
	oldGID, _ = unix.SetfsgidRetGid(gid)
	oldUID, _ = unix.SetfsuidRetUid(uid)
	curGID, _ := unix.SetfsgidRetGid(-1)
	curUID, _ := unix.SetfsuidRetUid(-1)
	return oldUID, oldGID, curUID == uid && curGID == gid
}

// restoreFS puts the thread's file-system ids back and reports whether it
// could verify they are back.
func restoreFS(uid, gid int) bool {
	unix.SetfsuidRetUid(uid)
	unix.SetfsgidRetGid(gid)
	curUID, _ := unix.SetfsuidRetUid(-1)
	curGID, _ := unix.SetfsgidRetGid(-1)
	return curUID == uid && curGID == gid
}

// epollTargets parses the "tfd:" lines of an epoll descriptor's fdinfo.
func epollTargets(info []byte) []int {
	var out []int
	sc := bufio.NewScanner(bytes.NewReader(info))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "tfd:" {
			if n, err := strconv.Atoi(f[1]); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// socketInode parses a /proc/PID/fd link such as "socket:[12345]".
func socketInode(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok || !strings.HasSuffix(s, "]") {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
	return n, err == nil
}
