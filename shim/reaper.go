package shim

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Exit is one reaped process.
type Exit struct {
	Pid    int
	Status unix.WaitStatus
}

// Code converts a wait status into the shell's convention: the exit code, or
// 128+N for a death by signal N.
func (e Exit) Code() int {
	if e.Status.Signaled() {
		return 128 + int(e.Status.Signal())
	}
	return e.Status.ExitStatus()
}

// reap collects every child that has ended, without blocking. It is the only
// place in hush that calls wait4; see the package documentation.
func reap() []Exit {
	var exits []Exit
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			// ECHILD: no children at all; 0: children remain, none ended.
			return exits
		}
		exits = append(exits, Exit{Pid: pid, Status: ws})
	}
}
