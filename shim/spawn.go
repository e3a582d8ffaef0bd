package shim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// defaultPath is what execvp falls back to when PATH is unset; the same list
// Docker puts in an image's default environment.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Exit codes for a child that never ran, as the shell and tini report them.
const (
	ExitCannotExecute = 126
	ExitNotFound      = 127
	ExitHushFailed    = 125
)

// ExecError is a child that could not be started. Code is 126, 127 or 125.
type ExecError struct {
	Command string
	Code    int
	Err     error
}

func (e *ExecError) Error() string {
	switch e.Code {
	case ExitNotFound:
		return fmt.Sprintf("%s: command not found", e.Command)
	default:
		return fmt.Sprintf("%s: cannot execute: %v", e.Command, e.Err)
	}
}

func (e *ExecError) Unwrap() error { return e.Err }

// spec is everything needed to start one generation of the child.
type spec struct {
	argv       []string
	env        []string
	user       *User
	foreground bool
	files      []*os.File
	// reservedIgnored: hush ignores signal 34, which the child must not
	// inherit (see withRuntimeReservedDefault).
	reservedIgnored bool
	// trampoline: options for hush's trampoline (trampoline.go); empty
	// execs the command directly.
	trampoline []string
	exe        string // hush's own binary, for the trampoline
}

// start forks and execs the child in its own process group. It never waits
// for the child: that is the reaper's job.
func start(s spec) (*os.Process, error) {
	path, err := lookPath(s.argv[0], envValue(s.env, "PATH"))
	if err != nil {
		return nil, err
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	if s.foreground {
		// Foreground implies Setpgid and makes the new group own the
		// terminal on fd 0. It fails with ENOTTY on anything but a
		// terminal, which is why it is only set when stdin is one.
		attr.Foreground = true
		attr.Ctty = 0
	}
	if s.user != nil {
		self, err := currentIdentity()
		if err != nil {
			return nil, err
		}
		// nil when hush already is the user: nothing to change, nothing
		// that needs a privilege.
		if attr.Credential, err = s.user.credential(self); err != nil {
			return nil, err
		}
	}
	argv := s.argv
	if len(s.trampoline) > 0 {
		argv = trampolineArgs(s.trampoline, path, s.argv)
		path = s.exe
	}
	var proc *os.Process
	err = withRuntimeReservedDefault(s.reservedIgnored, func() (err error) {
		proc, err = os.StartProcess(path, argv, &os.ProcAttr{
			Env:   s.env,
			Files: s.files,
			Sys:   attr,
		})
		return err
	})
	if err != nil {
		if len(s.trampoline) > 0 && errors.Is(err, unix.EACCES) {
			// The command itself was checked above: what could not be
			// executed is hush's own binary, as the child's user.
			return nil, &ExecError{Command: s.argv[0], Code: ExitCannotExecute, Err: fmt.Errorf(
				"hush starts it through its own binary (for --listen or --no-new-privs), which the child's user "+
					"cannot execute: make hush executable by everyone (chmod 755): %w", err)}
		}
		return nil, classifyExecError(s.argv[0], err)
	}
	return proc, nil
}

// lookPath finds the program the way execvp does, but with the CHILD's PATH,
// and tells "not found" (127) from "found but not executable" (126).
func lookPath(file, pathEnv string) (string, error) {
	if strings.Contains(file, "/") {
		return file, checkExecutable(file, file)
	}
	if pathEnv == "" {
		pathEnv = defaultPath
	}
	var denied error
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		candidate := filepath.Join(dir, file)
		err := checkExecutable(file, candidate)
		if err == nil {
			return candidate, nil
		}
		var ee *ExecError
		if errors.As(err, &ee) && ee.Code == ExitCannotExecute && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", &ExecError{Command: file, Code: ExitNotFound, Err: os.ErrNotExist}
}

func checkExecutable(name, path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return &ExecError{Command: name, Code: ExitNotFound, Err: err}
	case fi.IsDir():
		return &ExecError{Command: name, Code: ExitCannotExecute, Err: errors.New("is a directory")}
	case fi.Mode()&0o111 == 0:
		return &ExecError{Command: name, Code: ExitCannotExecute, Err: os.ErrPermission}
	}
	return nil
}

func classifyExecError(name string, err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return &ExecError{Command: name, Code: ExitHushFailed, Err: err}
	}
	switch errno {
	case unix.ENOENT, unix.ENOTDIR:
		// Also a script whose #! interpreter is missing.
		return &ExecError{Command: name, Code: ExitNotFound, Err: errno}
	case unix.EACCES, unix.ENOEXEC, unix.EISDIR, unix.ELOOP, unix.ETXTBSY, unix.E2BIG, unix.ENAMETOOLONG:
		return &ExecError{Command: name, Code: ExitCannotExecute, Err: errno}
	}
	// EPERM from setgroups/setuid and the like: hush's own failure.
	return &ExecError{Command: name, Code: ExitHushFailed, Err: err}
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// inheritedFiles returns hush's stdio plus every descriptor above 2 that hush
// inherited without close-on-exec (socket activation, `3>file` in a script),
// at the same numbers, so that hush is as transparent to the child as an exec
// would be. Go opens all of its own descriptors close-on-exec, so none of
// them leak.
func inheritedFiles() []*os.File {
	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return files
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 || fd > 1024 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		for len(files) <= fd {
			files = append(files, nil)
		}
		files[fd] = os.NewFile(uintptr(fd), "inherited-"+e.Name())
	}
	return files
}

// ownsTerminal reports whether stdin is a terminal whose foreground process
// group is hush's own: only then may the child be given the terminal (taking
// it from another group would steal it from the user's shell).
func ownsTerminal() bool {
	fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	if err != nil {
		return false
	}
	return fg == unix.Getpgrp()
}
