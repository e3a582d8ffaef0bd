package shim

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestTrampolineArgs(t *testing.T) {
	t.Parallel()
	got := trampolineArgs([]string{"listen-pid", "no-new-privs"}, "/usr/bin/node", []string{"node", "server.js"})
	want := []string{"hush-exec", "listen-pid,no-new-privs", "/usr/bin/node", "node", "server.js"}
	if !slices.Equal(got, want) {
		t.Errorf("trampolineArgs = %q, want %q", got, want)
	}
	if !IsTrampoline(got) {
		t.Error("IsTrampoline(trampolineArgs(...)) = false")
	}
	if got := trampolineArgs(nil, "/bin/true", []string{"true"}); got[1] != "-" {
		t.Errorf("no options: %q, want \"-\"", got[1])
	}
	for _, args := range [][]string{
		{"hush", "listen-pid", "/bin/true", "true"},
		{"hush-exec", "-", "/bin/true"}, // no argv0
		{"hush-exec"},
		nil,
	} {
		if IsTrampoline(args) {
			t.Errorf("IsTrampoline(%q) = true", args)
		}
	}
}

// TestTrampolineExecFailure: a command that vanished between hush's lookup
// and the exec gets the shell's status and a message naming it. (A
// successful exec replaces the test process, so it is covered by the
// black-box tests.)
func TestTrampolineExecFailure(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	code := RunTrampoline([]string{"hush-exec", "-", "/nonexistent/app", "app"}, &stderr)
	if code != ExitNotFound || !strings.Contains(stderr.String(), "app: command not found") {
		t.Errorf("RunTrampoline = %d, %q; want 127 naming app", code, stderr.String())
	}
	stderr.Reset()
	code = RunTrampoline([]string{"hush-exec", "-", "/etc/passwd", "passwd"}, &stderr)
	if code != ExitCannotExecute {
		t.Errorf("exec of a data file: %d, %q; want 126", code, stderr.String())
	}
}
