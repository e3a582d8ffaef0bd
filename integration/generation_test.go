package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// taggedRunning lists the live processes of run r whose command line is
// exactly argv (arguments joined by spaces).
func taggedRunning(r *hushRun, argv string) []int {
	var out []int
	for _, pid := range taggedPids(r.tag) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			continue
		}
		if strings.Join(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), " ") == argv && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// TestRotationEndsWholeGeneration: without -g, a restart still ends what the
// old child started: processes in its process group and descendants that
// left it (setsid), before the new child starts with the new secrets.
func TestRotationEndsWholeGeneration(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "s")
		writeFile(t, path, "1")
		// Each generation leaves a sleep in its group and one in a
		// session of its own, both named after its secret.
		script := `sleep 1000$S & setsid sleep 2000$S & trap 'exit 0' TERM; echo "value=$S"; while :; do sleep 0.05; done`
		r := startOpts(t, m, opts{env: []string{"S=ref+file://" + path}},
			"--debounce", "50ms", "--stop-timeout", "5s", "--", "sh", "-c", script)
		r.waitStdout("value=1")
		r.eventually("the first generation's background processes", func() bool {
			return len(taggedRunning(r, "sleep 10001")) == 1 && len(taggedRunning(r, "sleep 20001")) == 1
		})
		writeFile(t, path, "2")
		r.waitStdout("value=2")
		for _, bg := range []string{"sleep 10001", "sleep 20001"} {
			if left := taggedRunning(r, bg); len(left) != 0 {
				t.Errorf("%q of the old generation still runs after the restart (pids %v)", bg, left)
			}
		}
		r.signal(syscall.SIGTERM)
		r.wait()
	})
}

// TestStopSignalBeforeRotation: a stop signal forwarded while a rotation is
// pending (the change is still being debounced) or under way means the
// container is stopping: no new child starts, hush exits with the child's
// status (issue 10 item 6).
func TestStopSignalBeforeRotation(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "s")
		writeFile(t, path, "v1")
		// The child takes 3 s to stop: the change reaches the
		// supervisor while the forwarded SIGTERM is being handled.
		script := `trap 'sleep 3; exit 4' TERM; echo "value=$S"; while :; do sleep 0.05; done`
		r := startRotating(t, m, "ref+file://"+path, script, "--debounce", "200ms")
		r.waitStdout("value=v1")
		writeFile(t, path, "v2")
		r.signal(syscall.SIGTERM)
		r.eventually("hush to exit or restart", func() bool {
			return r.hasExited() || strings.Contains(r.stdout.String(), "value=v2")
		})
		r.expectExit(4)
		if strings.Contains(r.stdout.String(), "value=v2") {
			t.Errorf("a new child started after SIGTERM\nstdout:\n%s", r.stdout)
		}
		if !strings.Contains(r.stderr.String(), "secrets changed while hush is stopping") {
			t.Errorf("the change did not reach hush before it exited: the test proved nothing\n%s", r.stderr)
		}
		if !strings.Contains(r.stderr.String(), "no new child will start") {
			t.Errorf("want a log line saying no child will start, got:\n%s", r.stderr)
		}
	})
}
