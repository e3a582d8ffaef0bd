package shim

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// pollsListener reports whether process pid has registered one of the
// listening sockets (by inode) in an epoll instance: the moment an epoll
// server (Node's libuv, Go's netpoller, Python's asyncio, nginx) starts
// accepting. /proc/PID/fdinfo of an epoll descriptor lists each watched
// descriptor as "tfd: N events: ...". A server that blocks in accept(2), or
// waits with select/poll, is not seen this way (docs/zero-downtime.md):
// READY=1 or --ready-delay cover it.
//
// denied is true when /proc refused to show the descriptors: reading
// another user's descriptors needs CAP_SYS_PTRACE, which Docker does not
// grant by default, so a --user child cannot be seen this way there.
func pollsListener(pid int, inodes map[uint64]bool) (polls, denied bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	entries, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return false, errors.Is(err, fs.ErrPermission)
	}
	for _, e := range entries {
		link, err := os.Readlink(dir + "/fd/" + e.Name())
		if err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile(dir + "/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, tfd := range epollTargets(info) {
			target, err := os.Readlink(dir + "/fd/" + strconv.Itoa(tfd))
			if err != nil {
				continue
			}
			if ino, ok := socketInode(target); ok && inodes[ino] {
				return true, false
			}
		}
	}
	return false, false
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
