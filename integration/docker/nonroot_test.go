package docker

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNonRootContainer (issue 15 item 1): the image says HUSH_USER=node,
// and the platform starts the container as that user already (docker run
// --user 1000:1000, Kubernetes runAsUser: 1000 with runAsNonRoot). hush runs
// without privileges, so it must not try to switch to the user it already
// is; a switch it really cannot make is refused at start, exit 125, naming
// the setting and the capability rather than blaming the app. The app is
// the stand-in test-app, which reports the signal that must reach it.
func TestNonRootContainer(t *testing.T) {
	needDocker(t)
	t.Parallel()
	// The runtime user reads the secret itself: no root to read it first.
	readable := func(t *testing.T) *secret {
		s := newSecret(t)
		if err := os.Chmod(s.path, 0o444); err != nil {
			t.Fatal(err)
		}
		return s
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{name: "docker run --user 1000:1000", args: []string{"--user=1000:1000"}},
		// Kubernetes runAsUser/runAsGroup with fsGroup, every capability
		// dropped and no way back up: the extra group comes from the
		// runtime and must survive.
		{name: "runAsNonRoot with fsGroup, no capabilities", args: []string{
			"--user=1000:1000", "--group-add=2000", "--cap-drop=ALL", "--security-opt=no-new-privileges"}},
		{name: "numeric HUSH_USER", args: []string{"--user=1000:1000", "--env=HUSH_USER=1000:1000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := readable(t)
			c := runContainer(t, append(append([]string{s.mount()}, tc.args...), appImage, "test-app")...)
			start := c.waitStarts(1)[0]
			if start.uid != 1000 {
				t.Errorf("the app runs as uid %d, want 1000", start.uid)
			}
			if start.sha256 != sha256hex(s.value) {
				t.Errorf("the app got sha256 %s, want the secret's %s", start.sha256, sha256hex(s.value))
			}
			// The runtime's groups are the app's: hush changed nothing.
			status, err := c.exec("cat", fmt.Sprintf("/proc/%d/status", start.pid))
			if err != nil {
				t.Fatalf("reading the app's status: %v", err)
			}
			groups := lineWith(status, "Groups:")
			if slices.Contains(tc.args, "--group-add=2000") && !slices.Contains(strings.Fields(groups), "2000") {
				t.Errorf("the runtime's group 2000 is gone: %q", groups)
			}
			docker(t, "kill", "--signal", "USR1", c.name)
			c.waitLog("the app to get SIGUSR1", func(logs string) bool {
				return strings.Contains(logs, "app: got SIGUSR1")
			})
			docker(t, "stop", c.name)
			if st, _ := c.inspect(); st.State.ExitCode != 0 {
				t.Errorf("after docker stop: exit status %d, want the app's 0\n%s", st.State.ExitCode, c.describe())
			}
			if logs := c.logs(); strings.Contains(logs, "operation not permitted") || strings.Contains(logs, s.value) {
				t.Errorf("unexpected log:\n%s", logs)
			}
		})
	}

	t.Run("a switch that needs root", func(t *testing.T) {
		t.Parallel()
		s := readable(t)
		c := runContainer(t, s.mount(), "--user=1000:1000", "--env=HUSH_USER=root", appImage)
		if code := c.waitExit(); code != 125 {
			t.Errorf("exit status %d, want 125\n%s", code, c.describe())
		}
		logs := c.logs()
		for _, want := range []string{"--user/HUSH_USER", "CAP_SETUID", "CAP_SETGID"} {
			if !strings.Contains(logs, want) {
				t.Errorf("the error does not name %s:\n%s", want, logs)
			}
		}
		// Nothing of node: not started, not even to fail.
		for _, unwanted := range []string{"cannot execute", "cms-site:", "Node.js", s.value} {
			if strings.Contains(logs, unwanted) {
				t.Errorf("the logs hold %q:\n%s", unwanted, logs)
			}
		}
	})
}

func lineWith(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestScratchNumericUser (issue 15 item 3): an image FROM scratch has no
// /etc/passwd and no /etc/group, and a numeric HUSH_USER must still work, as
// with gosu and su-exec. hush reads the root-only secret first, then runs
// the command as the number given; a uid alone gets hush's own group (root's
// 0 here, what Docker gives an unknown uid) and HOME=/.
func TestScratchNumericUser(t *testing.T) {
	needDocker(t)
	t.Parallel()
	image := buildScratchImage(t)
	for _, tc := range []struct {
		user, want string
	}{
		{"1000:1000", "uid=1000 gid=1000 home=/"},
		{"1000", "uid=1000 gid=0 home=/"},
		{"1000:2000", "uid=1000 gid=2000 home=/"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			t.Parallel()
			s := newSecret(t)
			if err := os.Chown(s.path, 0, 0); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(s.path, 0o400); err != nil {
				t.Fatal(err)
			}
			c := runContainer(t, s.mount(), "--env=HUSH_USER="+tc.user, image)
			if code := c.waitExit(); code != 0 {
				t.Fatalf("exit status %d, want 0\n%s", code, c.describe())
			}
			logs := c.logs()
			want := tc.want + " sha256=" + sha256hex(s.value)
			if !strings.Contains(logs, want) {
				t.Errorf("the command printed %q, want %q", logs, want)
			}
			if strings.Contains(logs, s.value) {
				t.Errorf("the secret value is in the logs:\n%s", logs)
			}
		})
	}
}

// buildScratchImage builds FROM scratch: hush, a static busybox to have
// something to run, no /etc at all. The command prints its ids, HOME and
// the digest of the secret it got.
func buildScratchImage(t *testing.T) string {
	t.Helper()
	ctxDir := t.TempDir()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox not found (Debian: busybox-static): %v", err)
	}
	if err := copyFile(busybox, filepath.Join(ctxDir, "busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(hushBin, filepath.Join(ctxDir, "hush"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := `echo "uid=$(/busybox id -u) gid=$(/busybox id -g) home=$HOME sha256=$(printf %s "$CMS_SECRET" | /busybox sha256sum | /busybox cut -d" " -f1)"`
	dockerfile := fmt.Sprintf(`FROM scratch
COPY hush /hush
COPY busybox /busybox
ENV CMS_SECRET=ref+file:///run/secrets/cms-secret
ENTRYPOINT ["/hush", "--"]
CMD ["/busybox", "sh", "-c", %q]
`, script)
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	image := "hushtest-scratch:" + runID
	if err := build(filepath.Join(ctxDir, "Dockerfile"), ctxDir, "-t", image); err != nil {
		t.Fatal(err)
	}
	return image
}
