package shim

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The trampoline. sd_listen_fds(3) only accepts sockets when LISTEN_PID is
// the pid of the process reading it, and that pid exists only after fork.
// Go's os.StartProcess cannot run code between fork and exec, so hush cannot
// write the child's own pid into its environment. Predicting the pid
// (ns_last_pid) races every other fork in the container, and setting
// LISTEN_PID to hush's pid breaks every library that checks it (go-systemd,
// Python's systemd.daemon, listenfd). So when a child needs it, hush starts
// itself again as a tiny trampoline: the new process already has the pid
// the command will have, writes LISTEN_PID=getpid() into the environment,
// sets the requested process attributes that Go's SysProcAttr lacks
// (PR_SET_NO_NEW_PRIVS for --no-new-privs), and execs the command in place.
// It is the same binary, so nothing else has to be shipped, and it runs no
// hush logic: no flags parsed, no signals caught, no secrets touched.
//
// Its argv is [trampolineArg0, OPTIONS, PATH, ARGV0, ARG...]; OPTIONS is a
// comma list of listen-pid and no-new-privs, or "-".

const trampolineArg0 = "hush-exec"

// IsTrampoline reports whether this process was started as hush's
// trampoline. main checks it before anything else, signals included: the
// trampoline must leave every signal disposition as the command should get
// it.
func IsTrampoline(args []string) bool {
	return len(args) >= 4 && args[0] == trampolineArg0
}

// RunTrampoline execs the command and only returns if that fails, with the
// exit status the shell would give (126 or 127).
func RunTrampoline(args []string, stderr io.Writer) int {
	opts, path, argv := args[1], args[2], args[3:]
	env := os.Environ()
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "listen-pid":
			env = append(withoutVars(env, "LISTEN_PID"), "LISTEN_PID="+strconv.Itoa(os.Getpid()))
		case "no-new-privs":
			// Inherited by everything the command starts: setuid and
			// file-capability binaries no longer raise privileges.
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				fmt.Fprintf(stderr, "hush: error: %s: set no_new_privs: %v\n", argv[0], err)
				return ExitHushFailed
			}
		}
	}
	err := unix.Exec(path, argv, env)
	ee := classifyExecError(argv[0], err).(*ExecError)
	fmt.Fprintf(stderr, "hush: error: %v\n", ee)
	return ee.Code
}

// trampolineArgs is the argv that starts the command at path through the
// trampoline.
func trampolineArgs(opts []string, path string, argv []string) []string {
	o := strings.Join(opts, ",")
	if o == "" {
		o = "-"
	}
	return append([]string{trampolineArg0, o, path}, argv...)
}

// selfExe is how the child re-executes hush: /proc/self/exe names the
// running binary without walking its path, so it works after --user even
// when hush lives in a directory that user cannot search, and whatever
// replaced the file on disk since.
func selfExe() string {
	const proc = "/proc/self/exe"
	if _, err := os.Stat(proc); err == nil {
		return proc
	}
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	return proc
}
