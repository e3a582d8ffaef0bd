package integration

import (
	"path/filepath"
	"testing"
)

// A leftover is a background process the main child leaves behind: the
// main child (probe bg) starts it, waits until it is ready, and exits 7.
// The leftover logs every signal it receives to its own file.

// bgArgs returns hush arguments that make the main child exit 7 and leave
// `probe signals --log LOG extra...` running.
func bgArgs(log string, extra ...string) []string {
	args := []string{"--", probeBin, "bg", "--code", "7", "--", probeBin, "signals", "--log", log}
	return append(args, extra...)
}

// With --drain, hush sends SIGTERM to every remaining descendant (here a
// leftover and the leftover's own child), waits for them to finish their
// slow shutdown, and then exits with the main child's status (tini #180,
// dumb-init D7). -g makes no difference to it.
func TestDrainStopsLeftovers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		args []string
		env  []string
	}{
		{"flag", []string{"--drain", "20s"}, nil},
		{"flag-with-g", []string{"-g", "--drain", "20s"}, nil},
		{"env", nil, []string{"HUSH_DRAIN=20s"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inModes(t, func(t *testing.T, m mode) {
				dir := t.TempDir()
				leftover, grandchild := filepath.Join(dir, "leftover"), filepath.Join(dir, "grandchild")
				slow := []string{"--exit-on", "15", "--linger", "300ms"}
				args := append(append([]string{}, c.args...), bgArgs(leftover, slow...)...)
				args = append(args, "--", probeBin, "signals", "--log", grandchild)
				args = append(args, slow...)
				r := startOpts(t, m, opts{env: c.env}, args...)
				r.expectExit(7)
				for _, log := range []string{leftover, grandchild} {
					got := readFile(t, log)
					if !hasLine(got, "got 15") {
						t.Errorf("%s did not get SIGTERM before hush exited; its log:\n%s", filepath.Base(log), got)
					} else if !hasLine(got, "done") {
						t.Errorf("hush exited before %s finished its shutdown; its log:\n%s", filepath.Base(log), got)
					}
				}
			})
		})
	}
}

// A leftover that survives the stop signal is SIGKILLed when the drain
// window ends, and hush still exits with the main child's status.
func TestDrainKillsHoldouts(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		log := filepath.Join(t.TempDir(), "leftover")
		r := start(t, m, append([]string{"--drain", "1s"}, bgArgs(log)...)...)
		r.expectExit(7)
		if got := readFile(t, log); !hasLine(got, "got 15") {
			t.Errorf("holdout did not get SIGTERM first; its log:\n%s", got)
		}
		// As PID 1 the namespace dies with hush anyway; as a subreaper
		// only hush's SIGKILL ends the holdout.
		eventually(t, "the holdout to be killed", func() bool { return len(r.liveTagged(log)) == 0 })
	})
}

// --stop-signal chooses the drain signal; env HUSH_STOP_SIGNAL too, and
// the flag wins over the environment.
func TestDrainStopSignal(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		args []string
		env  []string
	}{
		{"flag", []string{"--stop-signal", "USR1"}, nil},
		{"number", []string{"--stop-signal", "10"}, nil},
		{"env", nil, []string{"HUSH_STOP_SIGNAL=SIGUSR1"}},
		{"flag-wins", []string{"--stop-signal", "USR1"}, []string{"HUSH_STOP_SIGNAL=HUP"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inModes(t, func(t *testing.T, m mode) {
				log := filepath.Join(t.TempDir(), "leftover")
				args := append(append([]string{"--drain", "20s"}, c.args...), bgArgs(log, "--exit-on", "10")...)
				r := startOpts(t, m, opts{env: c.env}, args...)
				r.expectExit(7)
				got := readFile(t, log)
				if !hasLine(got, "got 10") || !hasLine(got, "done") {
					t.Errorf("leftover did not get SIGUSR1 and finish; its log:\n%s", got)
				}
				if hasLine(got, "got 15") || hasLine(got, "got 1") {
					t.Errorf("leftover got another signal; its log:\n%s", got)
				}
			})
		})
	}
}

// Without --drain hush exits as soon as the main child has exited, like
// tini, and sends nothing to the leftover (not even with -g, unlike
// dumb-init's setsid mode, D7). In subreaper mode the leftover lives on;
// as PID 1 the kernel kills it with the namespace (SIGKILL, not logged).
func TestNoDrainExitsAtOnce(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"g", []string{"-g"}},
		{"drain-0", []string{"--drain", "0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inModes(t, func(t *testing.T, m mode) {
				log := filepath.Join(t.TempDir(), "leftover")
				r := start(t, m, append(append([]string{}, c.args...), bgArgs(log, "--exit-on", "15")...)...)
				r.expectExit(7)
				if got := readFile(t, log); hasLine(got, "got 15") {
					t.Errorf("leftover got SIGTERM without --drain; its log:\n%s", got)
				}
				if !m.pid1 && len(r.liveTagged(log)) != 1 {
					t.Errorf("leftover was killed without --drain")
				}
			})
		})
	}
}

// TestStopGraceAsPid1: the npm -> node shape. With -g, docker stop's
// SIGTERM reaches the main child and its background worker together; the
// main child exits at once, the worker takes a while to shut down cleanly.
// As PID 1, hush waits for it (bounded) instead of exiting and letting the
// kernel kill it mid-shutdown, and still exits with the main child's status
// (issue 15 item 2). No --drain is given.
func TestStopGraceAsPid1(t *testing.T) {
	t.Parallel()
	pid1 := modes[0]
	// Both shells print their line only once their trap is set, and the
	// test signals after seeing both.
	script := `(trap 'sleep 1; echo clean-shutdown; exit 0' TERM; echo worker-ready; while :; do sleep 0.05; done) &
trap 'exit 3' TERM; echo main-ready; while :; do sleep 0.05; done`
	r := start(t, pid1, "-g", "--", "sh", "-c", script)
	r.waitStdout("worker-ready")
	r.waitStdout("main-ready")
	r.terminate(3)
	if out := r.stdout.all(t); !hasLine(out, "clean-shutdown") {
		t.Errorf("the worker was killed before its clean shutdown; stdout:\n%s\nstderr:\n%s", out, r.stderr)
	}
}
