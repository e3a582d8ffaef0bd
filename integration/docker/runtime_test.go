package docker

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The reference Dockerfile.example puts in the image's environment.
const cmsRef = "CMS_SECRET=ref+file:///run/secrets/cms-secret"

// TestRuntimeSecret runs the app image with its secret bind-mounted, the
// plain-docker form of a Compose file secret. The app gets the value; hush
// (PID 1), `docker inspect` and `docker logs` only ever show the reference.
func TestRuntimeSecret(t *testing.T) {
	needDocker(t)
	t.Parallel()
	s := newSecret(t)
	// SYS_PTRACE lets root in the container read any process's
	// /proc/PID/environ (see environ); it changes nothing else here.
	c := runContainer(t, "--cap-add=SYS_PTRACE", s.mount(), appImage)
	start := c.waitServing(1)[0]
	node := c.waitOneNode()

	if start.digest != digest8(s.value) {
		t.Errorf("the app got a CMS_SECRET with sha256 %s…, want the mounted secret's %s…", start.digest, digest8(s.value))
	}

	// The control: the app's own environment does hold the value, so the
	// same look at PID 1 below would see it if hush kept it.
	appEnv := c.environ(node)
	if !hasEnv(appEnv, "CMS_SECRET="+s.value) {
		t.Errorf("the app's /proc/%d/environ lacks CMS_SECRET=<the value>:\n%s", node, readable(appEnv))
	}
	if strings.Contains(appEnv, "HUSH_") {
		t.Errorf("hush's HUSH_* settings reached the app's environment:\n%s", readable(appEnv))
	}

	// docker exec CONTAINER cat /proc/1/environ
	hushEnv := c.environ(1)
	if strings.Contains(hushEnv, s.value) {
		t.Errorf("the secret is in hush's (PID 1) /proc/1/environ:\n%s", readable(hushEnv))
	}
	if !hasEnv(hushEnv, cmsRef) {
		t.Errorf("hush's /proc/1/environ lacks the reference %s:\n%s", cmsRef, readable(hushEnv))
	}

	st, raw := c.inspect()
	if strings.Contains(raw, s.value) {
		t.Errorf("docker inspect %s shows the secret", c.name)
	}
	if !slices.Contains(st.Config.Env, cmsRef) {
		t.Errorf("docker inspect: Config.Env = %q, want the reference %s", st.Config.Env, cmsRef)
	}
	if logs := c.logs(); strings.Contains(logs, s.value) {
		t.Errorf("the secret is in docker logs:\n%s", logs)
	}

	// hush check, in the container's environment, as a HEALTHCHECK would
	// run it: resolved, and reported without the value.
	out, err := c.exec("/usr/local/bin/hush", "check")
	if err != nil {
		t.Errorf("hush check in the container: %v", err)
	}
	if !strings.Contains(out, "CMS_SECRET") || strings.Contains(out, s.value) {
		t.Errorf("hush check printed:\n%s\nwant a line for CMS_SECRET and no value", out)
	}
}

// TestMissingSecretFailsClosed runs the image without the secret: hush
// starts nothing, exits 125, and names the variable and the reference.
func TestMissingSecretFailsClosed(t *testing.T) {
	needDocker(t)
	t.Parallel()
	c := runContainer(t, appImage)
	if code := c.waitExit(); code != 125 {
		t.Errorf("exit status %d, want 125\n%s", code, c.describe())
	}
	logs := c.logs()
	if !strings.Contains(logs, "CMS_SECRET") || !strings.Contains(logs, "ref+file:///run/secrets/cms-secret") {
		t.Errorf("hush's error does not name the variable and the reference:\n%s", logs)
	}
	if strings.Contains(logs, "cms-site:") {
		t.Errorf("the app started without its secret:\n%s", logs)
	}
}

// TestStopAndSignals: `docker kill -s SIG` reaches the app through hush, and
// `docker stop` (SIGTERM to PID 1) stops it at once, with the app's status.
// The app is the stand-in test-app, which reports each signal it gets (node
// would start its inspector on SIGUSR1 and die of SIGHUP).
func TestStopAndSignals(t *testing.T) {
	needDocker(t)
	t.Parallel()
	s := newSecret(t)
	// The stand-in app exits 42 on SIGTERM: the container's status must be
	// the app's, not hush's guess.
	c := runContainer(t, s.mount(), "--env=APP_TERM_EXIT=42", appImage, "test-app")
	c.waitStarts(1)

	for _, sig := range []string{"USR1", "USR2", "HUP"} {
		docker(t, "kill", "--signal", sig, c.name)
		c.waitLog("the app to get SIG"+sig, func(logs string) bool {
			return strings.Contains(logs, "app: got SIG"+sig)
		})
	}

	began := time.Now()
	docker(t, "stop", c.name) // returns once the container has stopped
	took := time.Since(began)

	st, _ := c.inspect()
	if st.State.Running || st.State.ExitCode != 42 {
		t.Errorf("after docker stop: running=%v exit status %d, want stopped with the app's 42\n%s",
			st.State.Running, st.State.ExitCode, c.describe())
	}
	if logs := c.logs(); !strings.Contains(logs, "app: got SIGTERM, exiting 42") {
		t.Errorf("the app never got SIGTERM:\n%s", logs)
	}
	// The one timing this suite asserts, and only coarsely: docker stop
	// sends SIGKILL after 10 s if PID 1 ignores SIGTERM (a shell as PID 1
	// does). Anything well below that shows SIGTERM was handled; 8 s leaves
	// room for a slow, shared machine.
	if took >= 8*time.Second {
		t.Errorf("docker stop took %v: the container waited for Docker's 10 s SIGKILL instead of exiting on SIGTERM", took)
	}
}

// TestZombies: an app (the stand-in test-app) that leaves orphans behind.
// They are reparented to PID 1, and hush reaps them once they exit. The
// control runs the same orphan-making with a PID 1 that never waits, and
// the same check sees its zombies: the check can fail.
func TestZombies(t *testing.T) {
	needDocker(t)
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		zombies bool
	}{
		{
			name: "hush as PID 1",
			args: []string{"--env=APP_ORPHANS=3", appImage, "test-app"},
		},
		{
			name: "control: sleep as PID 1",
			args: []string{"--entrypoint=/bin/sh", appImage, "-c",
				"(sleep 0.1 &); (sleep 0.1 &); (sleep 0.1 &); exec sleep 600"},
			zombies: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSecret(t)
			c := runContainer(t, append([]string{s.mount()}, tc.args...)...)
			if tc.zombies {
				var ps []proc
				eventually(t, "3 zombies under a PID 1 that does not reap", func() bool {
					ps = c.procs()
					return countZombies(ps) == 3
				}, func() string { return fmt.Sprint(ps) })
				return
			}
			app := c.waitStarts(1)[0]
			c.waitLog("the app to orphan its children", func(logs string) bool {
				return strings.Contains(logs, "app: orphaned 3 sleepers")
			})
			// The orphans (ppid 1) live for a second, then exit. Until
			// hush reaps them they stay in the table, as zombies with
			// ppid 1; after that only the app is hush's child.
			var ps []proc
			eventually(t, "no orphan and no zombie left", func() bool {
				ps = c.procs()
				for _, p := range ps {
					if p.ppid == 1 && p.pid != app.pid || strings.HasPrefix(p.stat, "Z") {
						return false
					}
				}
				return true
			}, func() string { return fmt.Sprint(ps) })
		})
	}
}

// A proc is one line of `ps -o pid,ppid,stat,args` in a container.
type proc struct {
	pid, ppid int
	stat      string
	args      string
}

func (p proc) String() string { return fmt.Sprintf("\n%6d %6d %-4s %s", p.pid, p.ppid, p.stat, p.args) }

func (c *container) procs() []proc {
	c.t.Helper()
	out, err := c.exec("ps", "-o", "pid,ppid,stat,args")
	if err != nil {
		c.t.Fatalf("ps in %s: %v", c.name, err)
	}
	var ps []proc
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		ppid, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			c.t.Fatalf("ps in %s: cannot read %q", c.name, line)
		}
		ps = append(ps, proc{pid: pid, ppid: ppid, stat: f[2], args: strings.Join(f[3:], " ")})
	}
	return ps
}

func countZombies(ps []proc) int {
	n := 0
	for _, p := range ps {
		if strings.HasPrefix(p.stat, "Z") {
			n++
		}
	}
	return n
}

// TestRotation rewrites the mounted secret while the container runs. The
// image says HUSH_ON_CHANGE=rolling: a new node starts with the new value
// next to the old one, hush sees it accept on the socket (ready_by=probe)
// and stops the old one, and the container (hush, PID 1) keeps running.
// The other actions do what they say.
func TestRotation(t *testing.T) {
	needDocker(t)
	t.Parallel()
	type rotate func(t *testing.T, dir, file, value string)
	inPlace := func(t *testing.T, _, file, value string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(value+"\n"), 0o600); err != nil { // O_TRUNC: same inode
			t.Fatal(err)
		}
	}
	byRename := func(t *testing.T, dir, file, value string) {
		t.Helper()
		tmp := filepath.Join(dir, ".cms-secret.tmp")
		if err := os.WriteFile(tmp, []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		mountDir bool   // mount the secret's directory instead of the file
		rotate   rotate // how the host changes the secret
		onChange string // HUSH_ON_CHANGE, "" for the image's (rolling)
	}{
		{name: "file mount, rewritten in place", rotate: inPlace},
		// A single-file bind mount pins the inode: a rename on the host
		// is invisible inside. Mounting the directory makes it work.
		{name: "directory mount, replaced by rename", mountDir: true, rotate: byRename},
		{name: "on-change restart", rotate: inPlace, onChange: "restart"},
		{name: "on-change signal", rotate: inPlace, onChange: "signal:SIGHUP"},
		{name: "on-change exit", rotate: inPlace, onChange: "exit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "cms-secret")
			oldValue, newValue := "cms-old-"+randomHex(16), "cms-new-"+randomHex(16)
			inPlace(t, dir, file, oldValue)

			mount := "--volume=" + file + ":/run/secrets/cms-secret:ro"
			if tc.mountDir {
				mount = "--volume=" + dir + ":/run/secrets:ro"
			}
			// A short debounce keeps the test quick; the default (2s)
			// behaves the same.
			args := []string{mount, "--env=HUSH_DEBOUNCE=200ms", "--cap-add=SYS_PTRACE"}
			if tc.onChange != "" {
				args = append(args, "--env=HUSH_ON_CHANGE="+tc.onChange)
			}
			args = append(args, appImage)
			if tc.onChange == "signal:SIGHUP" {
				// node has no SIGHUP handler (it would die of it); the
				// stand-in app reports the signal.
				args = append(args, "test-app")
				c := runContainer(t, args...)
				if first := c.waitStarts(1)[0]; first.sha256 != sha256hex(oldValue) {
					t.Fatalf("the app started with sha256 %s, want the secret's %s", first.sha256, sha256hex(oldValue))
				}
				tc.rotate(t, dir, file, newValue)
				logs := c.waitLog("the app to get SIGHUP", func(logs string) bool {
					return strings.Contains(logs, "app: got SIGHUP")
				})
				if n := len(parseStarts(logs)); n != 1 {
					t.Errorf("--on-change signal restarted the app (%d starts)", n)
				}
				return
			}

			c := runContainer(t, args...)
			if first := c.waitServing(1)[0]; first.digest != digest8(oldValue) {
				t.Fatalf("the app started with sha256 %s…, want the secret's %s…", first.digest, digest8(oldValue))
			}
			firstNode := c.waitOneNode()
			before, _ := c.inspect()

			tc.rotate(t, dir, file, newValue)

			if tc.onChange == "exit" {
				// 75 (EX_TEMPFAIL): a restart policy or an orchestrator
				// starts the container again with the new secret.
				if code := c.waitExit(); code != 75 {
					t.Errorf("--on-change exit: exit status %d, want 75\n%s", code, c.describe())
				}
				return
			}
			second := c.waitServing(2)[1]
			if second.digest != digest8(newValue) {
				t.Errorf("the new app got sha256 %s…, want the new secret's %s…", second.digest, digest8(newValue))
			}
			if tc.onChange == "" {
				c.waitLog("the switch, by the probe", func(logs string) bool {
					return strings.Contains(logs, "ready_by=probe")
				})
			}
			if node := c.waitOneNode(); node == firstNode {
				t.Errorf("the app was not replaced (pid %d both times)", node)
			}
			after, _ := c.inspect()
			if !after.State.Running || after.State.Pid != before.State.Pid || after.RestartCount != 0 {
				t.Errorf("the container did not keep running: before pid %d, after running=%v pid %d restarts %d",
					before.State.Pid, after.State.Running, after.State.Pid, after.RestartCount)
			}
			if strings.Contains(c.environ(1), newValue) {
				t.Errorf("after rotation, hush's environment holds the new secret")
			}
		})
	}
}

// TestUser: the secret file is root's, mode 0400; the app runs as the
// unprivileged node (uid 1000) and still gets the value, because hush reads
// it before switching user. The control shows node cannot read the file.
// The app is the stand-in test-app, which reports the signal that must
// still reach it across the user switch.
func TestUser(t *testing.T) {
	needDocker(t)
	t.Parallel()
	rootOnly := func(t *testing.T) *secret {
		s := newSecret(t)
		if err := os.Chown(s.path, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(s.path, 0o400); err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("control: node cannot read the file", func(t *testing.T) {
		t.Parallel()
		s := rootOnly(t)
		out, err := dockerErr("run", "--rm", "--label", label, s.mount(), "--user=node", "--entrypoint=cat", appImage, "/run/secrets/cms-secret")
		if err == nil || strings.Contains(out, s.value) {
			t.Errorf("node read the root-only secret: %q, %v", out, err)
		}
	})

	for _, tc := range []struct {
		name string
		args []string
	}{
		// Dockerfile.example sets HUSH_USER=node.
		{name: "HUSH_USER from the image", args: []string{appImage, "test-app"}},
		{name: "--user flag, numeric", args: []string{"--entrypoint=/usr/local/bin/hush", appImage, "--user", "1000:1000", "--", "test-app"}},
		// The Docker form of examples/kubernetes' securityContext: no
		// capability but the three hush needs as root, and no way back
		// up. KILL is needed to signal a process of another user.
		{name: "capabilities as in examples/kubernetes", args: []string{
			"--cap-drop=ALL", "--cap-add=SETUID", "--cap-add=SETGID", "--cap-add=KILL",
			"--security-opt=no-new-privileges", appImage, "test-app"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := rootOnly(t)
			c := runContainer(t, append([]string{s.mount()}, tc.args...)...)
			start := c.waitStarts(1)[0]
			if start.uid != 1000 {
				t.Errorf("the app runs as uid %d, want 1000 (node)", start.uid)
			}
			if start.sha256 != sha256hex(s.value) {
				t.Errorf("the app got sha256 %s, want the secret's %s", start.sha256, sha256hex(s.value))
			}
			// Signals still reach the app across the user switch.
			docker(t, "kill", "--signal", "USR1", c.name)
			c.waitLog("the app to get SIGUSR1", func(logs string) bool {
				return strings.Contains(logs, "app: got SIGUSR1")
			})
			docker(t, "stop", c.name)
			if st, _ := c.inspect(); st.State.ExitCode != 0 {
				t.Errorf("after docker stop: exit status %d, want the app's 0\n%s", st.State.ExitCode, c.describe())
			}
		})
	}
}

// environ is `docker exec CONTAINER cat /proc/PID/environ`. The container
// needs CAP_SYS_PTRACE for it (--cap-add=SYS_PTRACE): without it, root in
// the container may not read the environ of a process of another user (the
// app, as node), nor that of a process that is not "dumpable" — and hush is
// not, once it has started a child as another user, because Go's
// StartProcess changes the child's uid while it still shares hush's memory
// map, and the kernel keeps the dumpable flag there.
func (c *container) environ(pid int) string {
	c.t.Helper()
	out, err := c.exec("cat", fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		c.t.Fatalf("reading /proc/%d/environ in %s (does it have --cap-add=SYS_PTRACE?): %v", pid, c.name, err)
	}
	return out
}

// hasEnv reports whether a NUL-separated environ holds the entry kv.
func hasEnv(environ, kv string) bool {
	return slices.Contains(strings.Split(environ, "\x00"), kv)
}

// readable shows an environ one entry per line.
func readable(environ string) string {
	return strings.ReplaceAll(strings.TrimRight(environ, "\x00"), "\x00", "\n")
}
