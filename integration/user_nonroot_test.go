package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// asNobody starts hush the way `docker run --user 65534:65534 --group-add
// 100` or Kubernetes runAsUser/fsGroup do: as a non-root user with no
// capabilities and a supplementary group the runtime chose. Only as a plain
// child (subreaper mode): entering a PID namespace needs root.
func asNobody(t *testing.T, nobody passwdEntry, o opts, args ...string) *hushRun {
	t.Helper()
	o.wrap = []string{"setpriv",
		"--reuid=" + strconv.Itoa(nobody.uid), "--regid=" + strconv.Itoa(nobody.gid),
		"--groups=" + strconv.Itoa(nobody.gid) + ",100"}
	return startOpts(t, modes[1], o, args...)
}

// needNobody skips t unless hush can be started as nobody: that takes root,
// and a user nobody in /etc/passwd.
func needNobody(t *testing.T) passwdEntry {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to start hush as another user")
	}
	nobody, ok := lookupUser(t, "nobody")
	if !ok {
		t.Skip("no user nobody in /etc/passwd")
	}
	return nobody
}

// issue 15 item 1: a container started as a non-root user whose image says
// HUSH_USER (or --user) for that same user must run the command: naming
// the user hush already is changes nothing, and the runtime's groups stay.
func TestUserAlreadyThatUser(t *testing.T) {
	t.Parallel()
	nobody := needNobody(t)
	// The runtime's groups (nobody's own and 100), not /etc/group's.
	want := fmt.Sprintf("uid=%d gid=%d groups=%s home=%s", nobody.uid, nobody.gid,
		strings.Join(sortedInts(nobody.gid, 100), ","), nobody.home)
	cases := []struct {
		name string
		o    opts
		args []string
	}{
		{"--user name", opts{}, []string{"--user", "nobody"}},
		{"--user uid:gid", opts{}, []string{"--user", fmt.Sprintf("%d:%d", nobody.uid, nobody.gid)}},
		{"HUSH_USER name", opts{env: []string{"HUSH_USER=nobody"}}, nil},
		{"HUSH_USER uid", opts{env: []string{"HUSH_USER=" + strconv.Itoa(nobody.uid)}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{}, c.args...), "--", probeBin, "ids")
			r := asNobody(t, nobody, c.o, args...)
			r.expectExit(0)
			if got := strings.TrimSpace(r.stdout.all(t)); got != want {
				t.Errorf("child has %q, want %q", got, want)
			}
			if s := r.stderr.all(t); s != "" {
				t.Errorf("unexpected stderr: %s", s)
			}
		})
	}
}

// A switch hush cannot make without root fails at start, exit 125, with a
// message naming the option and the capability, not the command; nothing is
// started and no secret is read first.
func TestUserSwitchNeedsPrivileges(t *testing.T) {
	t.Parallel()
	nobody := needNobody(t)
	cases := []struct {
		name    string
		spec    string
		missing []string
		absent  []string
	}{
		{"another user", "root", []string{"CAP_SETUID", "CAP_SETGID"}, nil},
		{"another uid, same group", fmt.Sprintf("4242:%d", nobody.gid), []string{"CAP_SETUID"}, nil},
		{"another group", fmt.Sprintf("%d:0", nobody.uid), []string{"CAP_SETGID"}, []string{"CAP_SETUID"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := asNobody(t, nobody,
				opts{env: []string{"HUSH_USER=" + c.spec, "MISSING=ref+file:///nonexistent/secret"}},
				"--", probeBin, "ids")
			stderr := r.expectRefused(append([]string{"--user/HUSH_USER"}, c.missing...)...)
			for _, unwanted := range append([]string{"cannot execute", "probe", "MISSING"}, c.absent...) {
				if strings.Contains(stderr, unwanted) {
					t.Errorf("stderr names %q:\n%s", unwanted, stderr)
				}
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
				t.Errorf("want one line, got %d:\n%s", n+1, stderr)
			}
			if out := r.stdout.all(t); out != "" {
				t.Errorf("the command ran: %q", out)
			}
		})
	}
}

func sortedInts(a, b int) []string {
	if a > b {
		a, b = b, a
	}
	if a == b {
		return []string{strconv.Itoa(a)}
	}
	return []string{strconv.Itoa(a), strconv.Itoa(b)}
}

// The same non-root container with a secret delivered as a file: hush
// writes it as the user it already is, and the child reads it.
func TestUserAlreadyThatUserFileDelivery(t *testing.T) {
	t.Parallel()
	nobody := needNobody(t)
	// nobody must reach the file: t.TempDir's parent is 0700.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secretPath := filepath.Join(dir, "s")
	value := "nonroot-" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(secretPath, []byte(value+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := asNobody(t, nobody, opts{env: []string{"HUSH_USER=nobody", "S=ref+file://" + secretPath}},
		"--deliver", "file", "--", "sh", "-c", `printf '%s\n' "$(cat "$S")"`)
	r.expectExit(0)
	if got := strings.TrimSpace(r.stdout.all(t)); got != value {
		t.Errorf("the child read %q from its secret file, want the secret", got)
	}
	if s := r.stderr.all(t); strings.Contains(s, value) || s != "" {
		t.Errorf("unexpected stderr: %s", s)
	}
}
