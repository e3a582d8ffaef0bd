package integration

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// uniqueSecret is a value no other process on the machine can contain by
// chance, so finding it anywhere is proof of a leak.
func uniqueSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "s3cret-" + hex.EncodeToString(b)
}

func procFile(t *testing.T, pid int, name string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSecretsNeverLeak proves invariant 1 of DESIGN.md for every delivery:
// the child gets the values; hush's own environment, argv and logs at debug
// level (text and JSON, rotation included) never hold them.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			inModes(t, func(t *testing.T, m mode) {
				dir := t.TempDir()
				envValue, fileValue, jsonValue := uniqueSecret(t), uniqueSecret(t), uniqueSecret(t)
				writeFile(t, filepath.Join(dir, "env"), envValue+"\n")
				writeFile(t, filepath.Join(dir, "file"), fileValue)
				writeFile(t, filepath.Join(dir, "app.json"), `{"k":"`+jsonValue+`"}`)
				r := startOpts(t, m, opts{env: []string{
					"ENV_SECRET=ref+file://" + dir + "/env",
					"FILE_SECRET=ref+file://" + dir + "/file?as=file",
					"JSON_SECRET=ref+file://" + dir + "/app.json#/k",
				}}, "-g", "-v", "--log-format", format, "--debounce", "10ms", "--",
					"sh", "-c", `trap 'kill $! 2>/dev/null; exit 0' TERM; sleep 1000 & `+
						`until read c < /proc/$!/comm && [ "$c" = sleep ]; do :; done; echo "ready $ENV_SECRET"; wait`)
				// "ready" comes once the background sleep has exec'd: a
				// SIGTERM sent on seeing it cannot meet a process that is
				// forked but still the shell (fork returns to the parent
				// first), which swallows the signal in the shell's trap,
				// survives as sleep and holds hush's stderr open.
				r.waitStdout("ready " + envValue)
				hush := r.hushPid()
				child := r.child("sh")
				for _, f := range []string{"environ", "cmdline"} {
					own := procFile(t, hush, f)
					for _, v := range []string{envValue, fileValue, jsonValue} {
						if strings.Contains(own, v) {
							t.Errorf("hush's /proc/PID/%s holds a secret value", f)
						}
					}
				}
				if !strings.Contains(procFile(t, hush, "environ"), "ENV_SECRET=ref+file://") {
					t.Errorf("hush's environment should still hold the reference")
				}
				childEnv := procFile(t, child, "environ")
				if !strings.Contains(childEnv, "ENV_SECRET="+envValue) || !strings.Contains(childEnv, "JSON_SECRET="+jsonValue) {
					t.Errorf("the child did not get its values")
				}
				if strings.Contains(childEnv, fileValue) {
					t.Errorf("a secret delivered as a file is in the child's environment")
				}
				// A rotation runs the debug-level paths of the watcher,
				// the resolver and the supervisor.
				rotated := uniqueSecret(t)
				writeFile(t, filepath.Join(dir, "env"), rotated)
				r.waitStdout("ready " + rotated)
				r.terminate(0)
				logs := r.stderr.all(t)
				if !strings.Contains(logs, "resolved") && !strings.Contains(logs, "child started") {
					t.Errorf("expected debug logs, got:\n%s", logs)
				}
				for _, v := range []string{envValue, fileValue, jsonValue, rotated} {
					if strings.Contains(logs, v) {
						t.Errorf("a secret value is in hush's logs:\n%s", logs)
					}
				}
			})
		})
	}
}

// TestUserReadsRootOnlySecret: hush reads a root-only secret before the
// child runs as nobody; the child gets the value, and a file-delivered
// secret is owned by nobody, mode 0400, in a directory of root's (0711) that
// the child can traverse but not change.
func TestUserReadsRootOnlySecret(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		value := uniqueSecret(t)
		path := filepath.Join(dir, "db")
		if err := os.WriteFile(path, []byte(value), 0o400); err != nil {
			t.Fatal(err)
		}
		r := startOpts(t, m, opts{env: []string{
			"DB=ref+file://" + path,
			"KEY=ref+file://" + path + "?as=file",
		}}, "--user", "nobody", "--",
			"sh", "-c", `echo "uid=$(id -u) db=$DB key=$(cat "$KEY") own=$(stat -c '%u %a' "$KEY") dir=$(stat -c '%u %a' "$(dirname "$KEY")")"; cat `+path+` 2>/dev/null || echo "cannot read the source"`)
		r.expectExit(0)
		want := fmt.Sprintf("uid=65534 db=%s key=%s own=65534 400 dir=0 711", value, value)
		out := r.stdout.all(t)
		if !hasLine(out, want) || !hasLine(out, "cannot read the source") {
			t.Errorf("stdout:\n%s\nwant lines %q and %q", out, want, "cannot read the source")
		}
	})
}

// TestSecretFilesRemoved: files written for --deliver file live under
// /dev/shm while the child runs and are gone once hush exits, whether the
// child ended by itself or hush was told to stop.
func TestSecretFilesRemoved(t *testing.T) {
	t.Parallel()
	ends := []struct {
		name string
		stop func(r *hushRun)
		want int
	}{
		{"child exits", func(r *hushRun) { writeFile(r.t, filepath.Join(r.cmd.Dir, "go-on"), "") }, 0},
		{"SIGTERM to hush", func(r *hushRun) { r.signal(syscall.SIGTERM) }, 0},
	}
	for _, e := range ends {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			inModes(t, func(t *testing.T, m mode) {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "s"), uniqueSecret(t))
				r := startOpts(t, m, opts{dir: dir, env: []string{"S=ref+file://s"}}, "--deliver", "file", "--",
					"sh", "-c", `trap 'exit 0' TERM; echo "path=$S"; while [ ! -e go-on ]; do sleep 0.02; done`)
				r.eventually("the file's path", func() bool { return strings.Contains(r.stdout.String(), "path=") })
				path := strings.TrimSpace(strings.SplitN(r.stdout.String(), "path=", 2)[1])
				if !strings.HasPrefix(path, "/dev/shm/hush-") {
					t.Fatalf("secret file at %q, want it under /dev/shm", path)
				}
				fi, err := os.Stat(path)
				if err != nil || fi.Mode().Perm() != 0o400 {
					t.Fatalf("secret file: %v, mode %v; want 0400", err, fi.Mode())
				}
				e.stop(r)
				r.expectExit(e.want)
				if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
					t.Errorf("secret directory %s still exists after hush exited (%v)", filepath.Dir(path), err)
				}
			})
		})
	}
}

// TestHostileChildCannotRedirectWrites: a child running as another user
// tries every way to make hush (root) write a secret file somewhere else:
// it moves the secret directory and its parent away and puts symlinks to a
// directory of its choosing in their place, plants a symlink under a
// secret's name, adds files. Then a rotation rewrites the secret. Nothing
// may appear outside hush's directory, and nothing may be left once hush
// exits.
func TestHostileChildCannotRedirectWrites(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		src := filepath.Join(t.TempDir(), "s")
		writeFile(t, src, "v1")
		// Outside t.TempDir, whose parent nobody cannot enter.
		evil, err := os.MkdirTemp("", "hush-evil-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(evil) })
		if err := os.Chmod(evil, 0o777); err != nil {
			t.Fatal(err)
		}
		// As nobody, every step may fail; the child reports what it did.
		attack := `d=$(dirname "$S"); o=$(dirname "$d")
mv "$o" "$o.moved" 2>/dev/null && ln -s "$EVIL" "$o" && echo "moved the parent"
mv "$d" "$d.moved" 2>/dev/null && ln -s "$EVIL" "$d" && echo "moved the directory"
ln -s "$EVIL/planted" "$d/S2" 2>/dev/null && echo "planted a symlink"
mv "$S" "$S.old" 2>/dev/null && ln -s "$EVIL/S" "$S" && echo "replaced the file"
touch "$d/extra" 2>/dev/null && echo "added a file"
echo "$o $d" >> "$EVIL/dirs"
trap 'kill $! 2>/dev/null; exit 0' TERM; echo "value=$(cat "$S")"; sleep 1000 & wait`
		r := startOpts(t, m, opts{env: []string{"S=ref+file://" + src, "EVIL=" + evil}},
			"-g", "--debounce", "50ms", "--user", "nobody", "--deliver", "file", "--", "sh", "-c", attack)
		r.waitStdout("value=v1")
		writeFile(t, src, "v2")
		r.waitStdout("value=v2")
		r.terminate(0)
		out := r.stdout.all(t)
		for _, done := range []string{"moved the parent", "moved the directory", "planted a symlink", "replaced the file", "added a file"} {
			if strings.Contains(out, done) {
				t.Errorf("the child %s", done)
			}
		}
		entries, _ := os.ReadDir(evil)
		for _, e := range entries {
			if e.Name() != "dirs" {
				t.Errorf("hush wrote %s outside its directory", filepath.Join(evil, e.Name()))
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(evil, "dirs"))), "\n") {
			for _, dir := range strings.Fields(line) {
				if dir == "/dev/shm" {
					continue
				}
				for _, p := range []string{dir, dir + ".moved"} {
					if _, err := os.Lstat(p); !os.IsNotExist(err) {
						t.Errorf("%s left behind after hush exited (%v)", p, err)
					}
				}
			}
		}
	})
}

// fifoDir is a new directory holding a FIFO named fifo: a secret source
// that never answers until the test writes to it (ref+file://fifo, from
// hush's working directory).
func fifoDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startTouch starts hush in dir around `touch started`, whose file tells
// whether the command ran.
func startTouch(t *testing.T, m mode, dir string, env []string, args ...string) *hushRun {
	t.Helper()
	return startOpts(t, m, opts{dir: dir, env: env}, append(args, "--", "touch", "started")...)
}

// checkNotStarted fails t if startTouch's command ran.
func checkNotStarted(t *testing.T, dir, when string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
		t.Errorf("the command ran %s", when)
	}
}

// TestStartupDeadline: a source that never answers (a FIFO nobody writes)
// ends hush with 125 at the deadline, naming the variable; nothing starts.
func TestStartupDeadline(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		dir := fifoDir(t)
		r := startTouch(t, m, dir, []string{"SLOW=ref+file://fifo"}, "--startup-timeout", "500ms")
		r.expectRefused("SLOW: ref+file://fifo", "deadline")
		checkNotStarted(t, dir, "although a secret could not be read")
	})
}

// TestEarlySignals: a signal that arrives while secrets are still being read
// is not forwarded to the child that starts later (it could not have a
// handler yet: a HUP meant as "reload" would kill an app that traps HUP);
// SIGTERM instead abandons the start.
func TestEarlySignals(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1} {
			t.Run(unix.SignalName(sig)+" before the start does not reach the child", func(t *testing.T) {
				dir := fifoDir(t)
				// The child traps HUP and USR1, but only once its shell
				// runs: a signal forwarded at once would kill it.
				r := startOpts(t, m, opts{dir: dir, env: []string{"S=ref+file://fifo"}}, "--", "sh", "-c",
					`trap 'echo got-signal' HUP USR1; trap 'echo term; exit 7' TERM; echo started; while :; do sleep 0.05; done`)
				r.eventually("hush to open the FIFO", func() bool { return fifoOpenedBy(r.hushPid()) })
				r.signal(sig)
				// Signals reach a Go program's loop asynchronously: wait
				// until hush has seen it, so that it surely came first.
				r.eventually("hush to see the early signal", func() bool {
					return strings.Contains(r.stderr.String(), "not forwarded")
				})
				writeFile(t, filepath.Join(dir, "fifo"), "value")
				r.waitStdout("started")
				r.terminate(7)
				if out := r.stdout.String(); strings.Contains(out, "got-signal") {
					t.Errorf("the early %v reached the child:\n%s", sig, out)
				}
			})
		}
		for _, c := range []struct {
			name string
			sig  syscall.Signal
			args []string
		}{
			{"--stop-signal abandons the start", syscall.SIGUSR2, []string{"--stop-signal", "USR2"}},
			{"TERM abandons the start", syscall.SIGTERM, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				dir := fifoDir(t)
				r := startTouch(t, m, dir, []string{"S=ref+file://fifo"}, c.args...)
				r.eventually("hush to open the FIFO", func() bool { return fifoOpenedBy(r.hushPid()) })
				r.signal(c.sig)
				r.expectExit(128 + int(c.sig))
				checkNotStarted(t, dir, "after "+unix.SignalName(c.sig)+" during start-up")
			})
		}
	})
}

// fifoOpenedBy reports whether a thread of pid is blocked opening a FIFO
// that has no writer: the kernel shows it waiting in wait_for_partner. (An
// openat in progress alone is not enough: the runtime opens files of its
// own while it starts, before hush can handle signals.)
func fifoOpenedBy(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err == nil && strings.TrimSpace(string(b)) == "wait_for_partner" {
			return true
		}
	}
	return false
}
