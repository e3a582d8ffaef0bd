package integration

import (
	"encoding/json"
	"strings"
	"testing"
)

// The child's stdout and stderr reach the caller byte for byte, even a
// megabyte written just before the child exits, and hush adds nothing of
// its own at the default log level.
func TestOutputPassthrough(t *testing.T) {
	t.Parallel()
	const n = 1 << 20
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(i*7 + i/251) // the pattern probe output writes
	}
	inModes(t, func(t *testing.T, m mode) {
		r := start(t, m, "--", probeBin, "output", "1048576")
		r.expectExit(0)
		if got := r.stdout.all(t); got != string(want) {
			t.Errorf("stdout: got %d bytes, want %d (same pattern: %v)", len(got), n, strings.HasPrefix(string(want), got))
		}
		if got, want := r.stderr.all(t), "to stderr\n\x00binary\xff no newline"; got != want {
			t.Errorf("stderr = %q, want %q", got, want)
		}
	})
}

// -v and --log-level debug make hush log on stderr; --log-format json
// makes every line a JSON object.
func TestLogs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		args []string
		env  []string
		json bool
	}{
		{"v", []string{"-v"}, nil, false},
		{"log-level", []string{"--log-level", "debug"}, nil, false},
		{"json", []string{"-v", "--log-format", "json"}, nil, true},
		{"json-env", nil, []string{"HUSH_LOG_LEVEL=debug", "HUSH_LOG_FORMAT=json"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inModes(t, func(t *testing.T, m mode) {
				args := append(append([]string{}, c.args...), "--", "sh", "-c", "exit 3")
				r := startOpts(t, m, opts{env: c.env}, args...)
				r.expectExit(3)
				logs := strings.TrimSpace(r.stderr.all(t))
				if logs == "" {
					t.Fatalf("no debug logs on stderr")
				}
				if !c.json {
					return
				}
				for _, line := range strings.Split(logs, "\n") {
					var v map[string]any
					if err := json.Unmarshal([]byte(line), &v); err != nil {
						t.Errorf("log line is not a JSON object: %q: %v", line, err)
					}
				}
			})
		})
	}
}

// TestSubreaperSaid: under a parent that is not PID 1 (docker run --init,
// a shell, systemd), hush says at debug level that it makes itself a
// subreaper; as PID 1 there is nothing to say.
func TestSubreaperSaid(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		r := start(t, m, "-v", "--", "true")
		r.expectExit(0)
		said := strings.Contains(r.stderr.all(t), "subreaper")
		if said == m.pid1 {
			t.Errorf("subreaper mentioned: %v as PID 1: %v\nstderr:\n%s", said, m.pid1, r.stderr)
		}
	})
}
