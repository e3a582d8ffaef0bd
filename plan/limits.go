package plan

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Linux's limits on what execve accepts (fs/exec.c), checked before a child
// is started or stopped, so that a secret that grew never turns into a
// child that cannot start.
const (
	// maxArgString is MAX_ARG_STRLEN: one NAME=value string, NUL
	// included, is at most 32 pages; a longer one fails with E2BIG.
	maxArgString = 32 * 4096
	// minArgTotal is ARG_MAX, the floor of the total budget.
	minArgTotal = 32 * 4096
	// maxArgTotal is the ceiling: three quarters of _STK_LIM (8 MiB).
	maxArgTotal = 6 << 20
	// headroom is kept free for what is added after the plan: HOME for
	// --user, LISTEN_* and NOTIFY_SOCKET for socket activation, the
	// executable's path that the kernel copies too.
	headroom = 4 << 10
)

// argTotalLimit is the kernel's budget for argv and envp together: a quarter
// of the stack limit, between minArgTotal and maxArgTotal.
func argTotalLimit() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &rl); err != nil {
		return minArgTotal
	}
	limit := uint64(maxArgTotal)
	if rl.Cur != unix.RLIM_INFINITY && rl.Cur/4 < limit {
		limit = rl.Cur / 4
	}
	return int(max(limit, minArgTotal))
}

// envSize is what execve counts: each string with its NUL and one pointer
// per string.
func envSize(env, argv []string) int {
	n := 0
	for _, s := range env {
		n += len(s) + 1 + 8
	}
	for _, s := range argv {
		n += len(s) + 1 + 8
	}
	return n
}

// checkExecLimits reports an environment execve would refuse, naming the
// variables to deliver as files instead. It never quotes a value and never
// gives a secret's exact size.
func checkExecLimits(env, argv []string) error {
	var tooLong []string
	for _, kv := range env {
		if len(kv)+1 > maxArgString {
			tooLong = append(tooLong, envName(kv))
		}
	}
	if len(tooLong) > 0 {
		return fmt.Errorf("%s: too large for an environment variable (Linux allows %d bytes per variable); "+
			"deliver it as a file with ?as=file or --deliver file", strings.Join(tooLong, ", "), maxArgString-1)
	}
	total, limit := envSize(env, argv), argTotalLimit()-headroom
	if total <= limit {
		return nil
	}
	return fmt.Errorf("the child's environment would take %d KiB, more than the %d KiB Linux accepts for a command "+
		"(a quarter of the stack limit, ulimit -s); deliver the largest secrets as files with ?as=file or "+
		"--deliver file (largest: %s)", total>>10, limit>>10, strings.Join(largest(env, 5), ", "))
}

// largest names the n biggest variables of env.
func largest(env []string, n int) []string {
	sorted := slices.Clone(env)
	slices.SortStableFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	var names []string
	for _, kv := range sorted[:min(n, len(sorted))] {
		names = append(names, envName(kv))
	}
	return names
}
