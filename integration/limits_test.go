package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// manyRefs is 60 variables referring to one file: 60 times 120 KB is more
// than execve accepts in total (at most 6 MiB, whatever the stack limit),
// while each variable stays under the 128 KiB per-string limit.
func manyRefs(path string) []string {
	var env []string
	for i := range 60 {
		env = append(env, fmt.Sprintf("BIG%02d=ref+file://%s", i, path))
	}
	return env
}

// TestEnvironmentTooLargeAtStart: an environment execve would refuse is
// exit 125 with the advice to deliver secrets as files, not a failed exec
// (126) after the secrets were read.
func TestEnvironmentTooLargeAtStart(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		dir := t.TempDir()
		path := filepath.Join(dir, "s")
		writeFile(t, path, strings.Repeat("x", 120_000))
		r := startTouch(t, m, dir, manyRefs(path))
		r.expectRefused("as=file", "environment") // the advice
		checkNotStarted(t, dir, "with an environment execve refuses")
	})
}

// TestRotationTooLargeKeepsChild: secrets that grow past what execve
// accepts are checked before anything is stopped: the child keeps running
// with its secrets, hush says why and how to fix it, and the next
// deliverable change restarts the child as usual.
func TestRotationTooLargeKeepsChild(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		s := newSecretFile(t, "s", "v1")
		env := manyRefs(s.path)
		r := startOpts(t, m, opts{env: env}, "-g", "--debounce", "50ms", "--",
			"sh", "-c", `trap 'kill $! 2>/dev/null; exit 0' TERM; echo "value=$BIG00"; sleep 1000 & wait`)
		r.waitStdout("value=v1")
		pid := r.child("sh")
		s.set(strings.Repeat("x", 120_000))
		r.eventually("the error about the environment", func() bool {
			return strings.Contains(r.stderr.String(), "cannot be delivered")
		})
		if !alive(pid) {
			t.Fatalf("the child was stopped for secrets that cannot be delivered\nstderr:\n%s", r.stderr)
		}
		if logs := r.stderr.String(); !strings.Contains(logs, "as=file") {
			t.Errorf("no advice in:\n%s", logs)
		}
		s.set("v3")
		r.waitStdout("value=v3")
		r.terminate(0)
	})
}

// TestLongReferenceBoundedLogs: a 100 KB reference does not make a 100 KB
// log line, at any level, in either format.
func TestLongReferenceBoundedLogs(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 100_000)
	refs := []string{
		"ref+file:///" + long,
		"ref+file:///x?" + long + "=1",
		"ref+" + long + "://x",
		"ref+file:///x#/" + long,
		"ref+vault://secret/" + long + "#/pw",
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			inModes(t, func(t *testing.T, m mode) {
				var env []string
				for i, ref := range refs {
					env = append(env, fmt.Sprintf("R%d=%s", i, ref))
				}
				// Vault is not there: its retries log the path too.
				env = append(env, "VAULT_ADDR=http://127.0.0.1:1", "VAULT_TOKEN=t")
				r := startOpts(t, m, opts{env: env}, "-v", "--log-format", format, "--startup-timeout", "2s", "--", "true")
				r.expectExit(125)
				logs := r.stderr.all(t)
				lines := strings.Split(strings.TrimSpace(logs), "\n")
				if len(lines) < len(refs) {
					t.Errorf("want at least one line per reference, got:\n%.2000s", logs)
				}
				for _, l := range lines {
					if len(l) > 4096 {
						t.Errorf("a %d-byte log line: %.300s...", len(l), l)
					}
					if format == "json" && !json.Valid([]byte(l)) {
						t.Errorf("not JSON: %.300s", l)
					}
				}
			})
		})
	}
}
