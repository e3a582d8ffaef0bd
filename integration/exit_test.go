package integration

import (
	"fmt"
	"strconv"
	"syscall"
	"testing"
)

// run starts hush in mode m and returns its exit status.
func run(t *testing.T, m mode, args ...string) int {
	t.Helper()
	return start(t, m, args...).wait()
}

// The child's exit status is hush's (dumb-init D1, tini T3).
func TestExitStatus(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		for _, code := range []int{0, 1, 2, 32, 64, 126, 127, 128, 143, 254, 255} {
			if got := run(t, m, "--", "sh", "-c", fmt.Sprintf("exit %d", code)); got != code {
				t.Errorf("child exits %d: hush exit status = %d", code, got)
			}
		}
	})
}

// A child killed by signal N makes hush exit 128+N (dumb-init D2).
func TestKilledBySignal(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGKILL, syscall.SIGUSR1, syscall.SIGSEGV} {
			// ulimit -c 0: no core file from QUIT or SEGV.
			script := fmt.Sprintf("ulimit -c 0; kill -%d $$", sig)
			if got := run(t, m, "--", "sh", "-c", script); got != 128+int(sig) {
				t.Errorf("child killed by signal %d: hush exit status = %d, want %d", sig, got, 128+int(sig))
			}
		}
	})
}

// -e N turns the child's status N into 0, for every N, and leaves the
// other statuses alone (tini T7).
func TestRemapExit(t *testing.T) {
	t.Parallel()
	codes := make([]int, 256)
	for i := range codes {
		codes[i] = i
	}
	if testing.Short() {
		codes = []int{0, 1, 2, 3, 64, 125, 126, 127, 128, 143, 254, 255}
	}
	inModes(t, func(t *testing.T, m mode) {
		for _, n := range codes {
			exit := fmt.Sprintf("exit %d", n)
			flag := "-e"
			if n%2 == 1 {
				flag = "--remap-exit"
			}
			if got := run(t, m, flag, strconv.Itoa(n), "--", "sh", "-c", exit); got != 0 {
				t.Errorf("%s %d with child status %d: hush exit status = %d, want 0", flag, n, n, got)
			}
			// Every other status remapped: N itself must come through.
			var args []string
			for other := range 256 {
				if other != n {
					args = append(args, "-e", strconv.Itoa(other))
				}
			}
			args = append(args, "--", "sh", "-c", exit)
			if got := run(t, m, args...); got != n {
				t.Errorf("all statuses but %d remapped, child status %d: hush exit status = %d, want %d", n, n, got, n)
			}
		}
	})
}
