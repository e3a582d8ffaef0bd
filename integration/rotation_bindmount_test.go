package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRotationReplacedBindMount (issue 15 item 5): a Docker Compose file
// secret is a bind mount of ONE host file. An editor or `sed -i` on the host
// replaces that file by rename, and the container keeps the old inode, now
// with no links: nothing can reach hush or the child any more. hush must say
// so once, naming the variable and the fix, and keep the child running.
func TestRotationReplacedBindMount(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to bind-mount in a mount namespace")
	}
	inModes(t, func(t *testing.T, m mode) {
		host := t.TempDir()
		hostFile := filepath.Join(host, "cms-secret.txt")
		writeFile(t, hostFile, "first-e1b7\n")
		mnt := t.TempDir()
		inContainer := filepath.Join(mnt, "cms-secret")
		writeFile(t, inContainer, "") // the mount point

		// The bind mount exists only in a private mount namespace that
		// hush runs in, as in a container.
		wrap := []string{"unshare", "--mount", "--propagation", "private",
			"sh", "-c", `mount --bind "$1" "$2" && shift 3 && exec "$@"`, "sh", hostFile, inContainer}
		r := startOpts(t, m, opts{env: []string{"CMS_SECRET=ref+file://" + inContainer}, wrap: wrap},
			"-g", "--debounce", "50ms", "--", "sh", "-c", strings.ReplaceAll(rotationChild, "$S", "$CMS_SECRET"))
		r.waitStdout("value=first-e1b7")
		child := r.child("sh")

		// The host replaces the file, as an editor saving does.
		writeFile(t, hostFile+".tmp", "second-5c2a\n")
		if err := os.Rename(hostFile+".tmp", hostFile); err != nil {
			t.Fatal(err)
		}
		warning := "mount the file's directory"
		r.eventually("a warning about the replaced bind mount", func() bool {
			return strings.Contains(r.stderr.String(), warning)
		})
		line := lineWith(r.stderr.String(), warning)
		for _, want := range []string{"CMS_SECRET", "write the file in place", inContainer} {
			if !strings.Contains(line, want) {
				t.Errorf("the warning does not name %q:\n%s", want, line)
			}
		}
		if !alive(child) {
			t.Fatalf("the child was stopped\nstderr:\n%s", r.stderr)
		}

		// Through hush's own view of the mount: a chmod (another
		// link-count-style event) must not warn again, and an in-place
		// write to the inode the container still has is a rotation as
		// ever. Seeing its value proves the chmod was handled first.
		seen := fmt.Sprintf("/proc/%d/root%s", r.hushPid(), inContainer)
		if err := os.Chmod(seen, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(seen, []byte("third-90d4\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		r.waitStdout("value=third-90d4")
		if n := strings.Count(r.stderr.String(), warning); n != 1 {
			t.Errorf("warned %d times, want once\nstderr:\n%s", n, r.stderr)
		}
		if strings.Contains(r.stdout.String(), "second-5c2a") {
			t.Errorf("the replaced file's content reached the child?\nstdout:\n%s", r.stdout)
		}
		for _, v := range []string{"first-e1b7", "second-5c2a", "third-90d4"} {
			if strings.Contains(r.stderr.String(), v) {
				t.Errorf("a secret value is in hush's log:\n%s", r.stderr)
			}
		}
		r.terminate(0)
	})
}

func lineWith(text, substr string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}
