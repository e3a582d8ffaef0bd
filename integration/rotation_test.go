package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rotationChild prints the secret it was started with and waits. It leaves
// promptly on SIGTERM: `wait` is interrupted by a trapped signal, unlike a
// foreground sleep.
// The trap is set before the line is printed, so a test that signals after
// seeing the line never hits the default action.
const rotationChild = `trap 'kill $! 2>/dev/null; exit 0' TERM; echo "value=$S"; sleep 1000 & wait`

// startRotating runs hush around script with S referring to ref. -g makes
// every stop reach the script's background sleep too, so no orphan keeps
// hush's output open after a test.
func startRotating(t *testing.T, m mode, ref, script string, args ...string) *hushRun {
	t.Helper()
	argv := append([]string{"-g", "--debounce", "50ms"}, args...)
	argv = append(argv, "--", "sh", "-c", script)
	return startOpts(t, m, opts{env: []string{"S=" + ref}}, argv...)
}

// startFileRotation starts rotationChild with S referring to a new secret
// file holding first, and waits for the child's value line.
func startFileRotation(t *testing.T, m mode, first string, args ...string) (*hushRun, secretFile) {
	t.Helper()
	s := newSecretFile(t, "s", first)
	r := startRotating(t, m, s.ref(), rotationChild, args...)
	r.waitStdout("value=" + strings.TrimSuffix(first, "\n"))
	return r, s
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// secretFile is a secret file a test rewrites.
type secretFile struct {
	t    *testing.T
	path string
}

// newSecretFile writes content to a new file named name.
func newSecretFile(t *testing.T, name, content string) secretFile {
	t.Helper()
	f := secretFile{t: t, path: filepath.Join(t.TempDir(), name)}
	f.set(content)
	return f
}

func (f secretFile) ref() string { return "ref+file://" + f.path }

func (f secretFile) set(content string) {
	f.t.Helper()
	writeFile(f.t, f.path, content)
}

// countLines counts the lines of text equal to line.
func countLines(text, line string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			n++
		}
	}
	return n
}

// k8sVolume lays out a secret volume the way the kubelet's AtomicWriter
// does: name -> ..data/name, ..data -> ..TIMESTAMP/.
type k8sVolume struct {
	t   *testing.T
	dir string
	gen int
}

func newK8sVolume(t *testing.T, name, value string) *k8sVolume {
	v := &k8sVolume{t: t, dir: t.TempDir()}
	v.update(name, value)
	if err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name)); err != nil {
		t.Fatal(err)
	}
	return v
}

// update writes a new timestamped directory, points ..data_tmp at it, renames
// that over ..data (the atomic step) and removes the old directory.
func (v *k8sVolume) update(name, value string) {
	v.gen++
	ts := fmt.Sprintf("..2026_11_28_17_00_%02d.%d", v.gen, v.gen)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		v.t.Fatal(err)
	}
	writeFile(v.t, filepath.Join(v.dir, ts, name), value)
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		v.t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(v.dir, "..data"))
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
	if old != "" {
		os.RemoveAll(filepath.Join(v.dir, old))
	}
}

// TestRotationChangeKinds: every way a secret file changes reaches the
// child as a restart with the new value.
func TestRotationChangeKinds(t *testing.T) {
	t.Parallel()
	kinds := []struct {
		name  string
		setup func(t *testing.T) (ref string, change func(value string))
	}{
		{"in-place write", func(t *testing.T) (string, func(string)) {
			s := newSecretFile(t, "s", "v1\n")
			return s.ref(), func(v string) { s.set(v + "\n") }
		}},
		{"atomic rename", func(t *testing.T) (string, func(string)) {
			dir := t.TempDir()
			path := filepath.Join(dir, "s")
			writeFile(t, path, "v1\n")
			return "ref+file://" + path, func(v string) {
				writeFile(t, filepath.Join(dir, ".s.tmp"), v+"\n")
				if err := os.Rename(filepath.Join(dir, ".s.tmp"), path); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"delete and re-create", func(t *testing.T) (string, func(string)) {
			s := newSecretFile(t, "s", "v1\n")
			return s.ref(), func(v string) {
				if err := os.Remove(s.path); err != nil {
					t.Fatal(err)
				}
				s.set(v + "\n")
			}
		}},
		{"kubernetes AtomicWriter", func(t *testing.T) (string, func(string)) {
			vol := newK8sVolume(t, "s", "v1\n")
			return "ref+file://" + filepath.Join(vol.dir, "s"), func(v string) { vol.update("s", v+"\n") }
		}},
		{"json pointer into a rewritten file", func(t *testing.T) (string, func(string)) {
			s := newSecretFile(t, "app.json", `{"db":{"password":"v1"}}`)
			return s.ref() + "#/db/password", func(v string) {
				s.set(`{"db":{"password":"` + v + `"}}`)
			}
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			inModes(t, func(t *testing.T, m mode) {
				ref, change := k.setup(t)
				r := startRotating(t, m, ref, rotationChild)
				r.waitStdout("value=v1")
				change("v2")
				r.waitStdout("value=v2")
				change("v3")
				r.waitStdout("value=v3")
				r.terminate(0)
			})
		})
	}
}

// TestRotationStopTimeout: a child that takes a while to stop is waited
// for; one that ignores the stop signal is killed after --stop-timeout.
func TestRotationStopTimeout(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, script string
		killed       bool
	}{
		{"slow but within the timeout", `trap 'sleep 0.3; echo "stopped=$S"; exit 0' TERM; echo "value=$S"; while :; do sleep 0.05; done`, false},
		{"ignores SIGTERM", `trap '' TERM; echo "value=$S"; while :; do sleep 0.05; done`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inModes(t, func(t *testing.T, m mode) {
				s := newSecretFile(t, "s", "v1")
				r := startRotating(t, m, s.ref(), c.script, "--stop-timeout", "1s")
				r.waitStdout("value=v1")
				s.set("v2")
				r.waitStdout("value=v2")
				if !c.killed {
					r.waitStdout("stopped=v1")
				}
				killedMsg := strings.Contains(r.stderr.String(), "did not stop in time")
				if killedMsg != c.killed {
					t.Errorf("SIGKILL after the stop timeout: %v, want %v\nstderr:\n%s", killedMsg, c.killed, r.stderr)
				}
				if !c.killed {
					r.terminate(0)
				}
			})
		})
	}
}

// TestRotationSignal: --on-change signal:HUP keeps the same child and
// rewrites its secret file before the signal, so the handler reads the new
// value.
func TestRotationSignal(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		s := newSecretFile(t, "s", "v1\n")
		script := `trap 'echo "pid=$$ value=$(cat "$S")"' HUP; trap 'exit 0' TERM; echo "pid=$$ value=$(cat "$S")"; while :; do sleep 0.05; done`
		r := startRotating(t, m, s.ref(), script, "--deliver", "file", "--on-change", "signal:HUP")
		eventually(t, "first line", func() bool { return strings.Contains(r.stdout.String(), " value=v1") })
		first := strings.SplitN(r.stdout.String(), " ", 2)[0] // pid=N
		s.set("v2\n")
		r.waitStdout(first + " value=v2")
		s.set("v3\n")
		r.waitStdout(first + " value=v3")
		r.terminate(0)
	})
}

// TestRotationBrokenUpdate: an update that cannot be read leaves the child
// alone; the next valid one restarts it.
func TestRotationBrokenUpdate(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		s := newSecretFile(t, "app.json", `{"pw":"v1"}`)
		r := startRotating(t, m, s.ref()+"#/pw", rotationChild)
		r.waitStdout("value=v1")
		pid := r.child("sh")
		s.set(`{"pw": broken-json-v2`)
		r.eventually("a warning about the unreadable update", func() bool {
			return strings.Contains(r.stderr.String(), "cannot be read")
		})
		if !alive(pid) || strings.Contains(r.stdout.String(), "value=v2") {
			t.Fatalf("the child was disturbed by a broken update\nstdout:\n%s", r.stdout)
		}
		if strings.Contains(r.stderr.String(), "broken-json") {
			t.Errorf("the file's content leaked into the log:\n%s", r.stderr)
		}
		s.set(`{"pw":"v3"}`)
		r.waitStdout("value=v3")
		r.terminate(0)
	})
}

// TestRotationTermDuringRestart: a SIGTERM that arrives while the old child
// is stopping abandons the restart; hush ends with the child's status.
func TestRotationTermDuringRestart(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		s := newSecretFile(t, "s", "v1")
		flag := filepath.Join(t.TempDir(), "go-on")
		// The stopping child waits for the test's go-ahead, so the
		// SIGTERM surely lands during the restart.
		script := `trap 'echo stopping; while [ ! -e ` + flag + ` ]; do sleep 0.02; done; exit 7' TERM; echo "value=$S"; while :; do sleep 0.02; done`
		r := startRotating(t, m, s.ref(), script)
		r.waitStdout("value=v1")
		s.set("v2")
		r.waitStdout("stopping")
		r.signal(syscall.SIGTERM)
		r.eventually("hush to note the stop", func() bool {
			return strings.Contains(r.stderr.String(), "no new child will start")
		})
		writeFile(t, flag, "")
		r.expectExit(7)
		if strings.Contains(r.stdout.String(), "value=v2") {
			t.Errorf("a new child was started after SIGTERM:\n%s", r.stdout)
		}
	})
}

// TestRotationExit: --on-change exit stops the child and exits 75.
func TestRotationExit(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		r, s := startFileRotation(t, m, "v1", "--on-change", "exit")
		s.set("v2")
		r.expectExit(75)
	})
}

// TestRotationMany: 200 rotations in a row give the right value each time,
// leave no zombie and no growth in hush's descriptors or threads.
func TestRotationMany(t *testing.T) {
	t.Parallel()
	rounds := stressRounds(200, 30)
	inModes(t, func(t *testing.T, m mode) {
		// -v: after each restart hush logs its goroutine count.
		r, s := startFileRotation(t, m, "v0", "--debounce", "1ms", "-v")
		hush := r.hushPid()
		var fds0, threads0, goroutines0 int
		for i := 1; i <= rounds; i++ {
			s.set("v" + strconv.Itoa(i))
			r.waitStdout("value=v" + strconv.Itoa(i))
			if i == 10 {
				fds0, threads0 = countFDs(t, hush), threads(t, hush)
				goroutines0 = lastGoroutines(r)
			}
		}
		if g := lastGoroutines(r); g > goroutines0+2 {
			t.Errorf("hush's goroutines grew from %d to %d over %d rotations", goroutines0, g, rounds-10)
		}
		// One look can catch a descriptor hush holds for a moment after
		// a restart (a /proc directory it scans, say); a leak never goes
		// back down, so wait for the count to return.
		r.eventually(fmt.Sprintf("hush's descriptors back to %d after %d rotations", fds0, rounds-10), func() bool {
			return countFDs(t, hush) <= fds0
		})
		if th := threads(t, hush); th > threads0+2 {
			t.Errorf("hush's threads grew from %d to %d over %d rotations", threads0, th, rounds-10)
		}
		for _, c := range children(hush) {
			if state, _, ok := procStat(c); ok && state == 'Z' {
				t.Errorf("zombie %d left after %d rotations", c, rounds)
			}
		}
		r.terminate(0)
	})
}

// TestRotationDebounce: a burst of 50 writes inside the debounce window is
// one restart, with the last value.
func TestRotationDebounce(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		r, s := startFileRotation(t, m, "v0", "--debounce", "1s")
		for i := 1; i <= 50; i++ {
			s.set("v" + strconv.Itoa(i))
		}
		r.waitStdout("value=v50")
		// Nothing can be polled for "no further restart": give a late
		// second restart a full debounce window to show up.
		time.Sleep(1500 * time.Millisecond)
		if n := strings.Count(r.stdout.String(), "value="); n != 2 {
			t.Errorf("%d children started, want 2 (the first and one restart)\nstdout:\n%s", n, r.stdout)
		}
		r.terminate(0)
	})
}

// lastGoroutines waits for hush's latest "supervisor state" debug line and
// returns the goroutine count it reports.
func lastGoroutines(r *hushRun) int {
	r.t.Helper()
	n := -1
	r.eventually("hush's goroutine count in its debug log", func() bool {
		for _, l := range strings.Split(r.stderr.String(), "\n") {
			if _, v, ok := strings.Cut(l, "supervisor state goroutines="); ok {
				n, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		return n > 0
	})
	return n
}

func countFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func threads(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatalf("no Threads line in /proc/%d/status", pid)
	return 0
}

// TestRotationEmptyHeldBack: an editor that truncates a file and writes it
// later must not restart the child with an empty secret. hush warns, the
// child keeps its value, and the real write that follows restarts it.
func TestRotationEmptyHeldBack(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		r, s := startFileRotation(t, m, "v1\n")
		pid := r.child("sh")
		s.set("")
		r.eventually("a warning about the empty value", func() bool {
			return strings.Contains(r.stderr.String(), "S: "+s.ref()+": the value is empty")
		})
		if !alive(pid) || hasLine(r.stdout.String(), "value=") {
			t.Fatalf("the child was restarted with an empty secret\nstdout:\n%s", r.stdout)
		}
		s.set("v2\n")
		r.waitStdout("value=v2")
		if hasLine(r.stdout.String(), "value=") {
			t.Errorf("the child saw an empty secret\nstdout:\n%s", r.stdout)
		}
		r.terminate(0)
	})
}

// TestRotationEmbedded: a reference inside a longer value is watched like
// any other, and a change re-renders the whole value.
func TestRotationEmbedded(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		s := newSecretFile(t, "pw", "v1\n")
		r := startRotating(t, m, "postgres://app:"+s.ref()+"+@db:5432/app", rotationChild)
		r.waitStdout("value=postgres://app:v1@db:5432/app")
		s.set("v2\n")
		r.waitStdout("value=postgres://app:v2@db:5432/app")
		r.terminate(0)
	})
}

// TestRotationOneLogLine: a rotation is one info line, naming what changed
// in the same field in text and JSON (issue 13 item 5, issue 15 item 9);
// the steps on the way are debug lines.
func TestRotationOneLogLine(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			r, s := startFileRotation(t, modes[0], "v0", "--log-format", format)
			s.set("v1")
			r.waitStdout("value=v1")
			r.terminate(0)
			var rotation []string
			for _, l := range strings.Split(r.stderr.all(t), "\n") {
				if strings.Contains(l, "secrets changed") || strings.Contains(l, "restarted") {
					rotation = append(rotation, l)
				}
			}
			if len(rotation) != 1 {
				t.Fatalf("want one log line for the rotation, got %d:\n%s", len(rotation), strings.Join(rotation, "\n"))
			}
			want := "changed=S"
			if format == "json" {
				want = `"changed":"S"`
			}
			if !strings.Contains(rotation[0], want) {
				t.Errorf("rotation line %q does not name what changed (%s)", rotation[0], want)
			}
		})
	}
}
