package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestRollingProbeAsUserWithoutPtrace: Docker runs hush as root without
// CAP_SYS_PTRACE, and /proc then refuses hush another user's descriptors,
// so the epoll probe could not see a --user server start accepting. hush
// reads them as the server's user instead: the new generation is seen
// ready by the probe, with no READY=1 and no --ready-delay.
func TestRollingProbeAsUserWithoutPtrace(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root: hush runs the server as nobody")
	}
	for _, srv := range []testServer{nodeServer(t), pythonServer(t, "asyncio")} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			port := freePort(t)
			path := filepath.Join(t.TempDir(), "secret")
			writeFile(t, path, "v1")
			// A --ready-timeout far beyond the test's patience: the
			// switch can only come from the probe.
			args := append([]string{"--user", "nobody", "--debounce", "50ms",
				"--listen", fmt.Sprintf("tcp://127.0.0.1:%d", port),
				"--on-change", "rolling", "--ready-timeout", "1h", "--"}, srv.argv...)
			r := startOpts(t, modes[0], opts{
				env:  []string{"SECRET=ref+file://" + path},
				wrap: []string{"setpriv", "--bounding-set=-sys_ptrace"},
			}, args...)
			rr := &rollingRun{hushRun: r, path: path, url: fmt.Sprintf("http://127.0.0.1:%d/", port)}
			rr.waitAnswer("v1")
			if hasCap(t, r.hushPid(), capSysPtrace) {
				t.Fatal("harness: hush still has CAP_SYS_PTRACE")
			}
			writeFile(t, path, "v2")
			rr.waitAnswer("v2")
			rr.eventually("the switch to be logged", func() bool {
				return strings.Contains(rr.stderr.String(), "ready_by=probe")
			})
			rr.eventually("the old generation to stop", func() bool { return len(serverProcs(r, srv.comm)) == 1 })
			rr.signal(syscall.SIGTERM)
			rr.expectExit(0)
			if logs := rr.stderr.all(t); strings.Contains(logs, "cannot see whether") {
				t.Errorf("hush says it could not look:\n%s", logs)
			}
		})
	}
}

const capSysPtrace = 19

// hasCap reports whether process pid has capability c in its effective set.
func hasCap(t *testing.T, pid, c int) bool {
	t.Helper()
	v := statusField(t, pid, "CapEff:")
	caps, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		t.Fatalf("CapEff of pid %d: %q: %v", pid, v, err)
	}
	return caps&(1<<c) != 0
}
