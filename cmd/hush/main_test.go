package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCapture calls run without signals: none of the paths tested here
// supervises a child, and those are the only ones that use sigs.
func runCapture(t *testing.T, args []string, env ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), nil, args, envFunc(env...), env, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		env        []string
		code       int
		stdout     string // exact, unless empty and stdoutHas is set
		stdoutHas  string
		stderrHas  []string
		stderrNone bool
	}{
		{name: "version", args: []string{"version"}, code: 0, stdout: "hush version dev\n", stderrNone: true},
		{name: "--version", args: []string{"--version"}, code: 0, stdout: "hush version dev\n", stderrNone: true},
		{name: "-V", args: []string{"-V"}, code: 0, stdout: "hush version dev\n", stderrNone: true},
		{name: "-V is not -v", args: []string{"-v", "-V"}, code: 0, stdout: "hush version dev\n", stderrNone: true},
		{name: "--version wins over a command", args: []string{"--version", "npm"}, code: 0, stdout: "hush version dev\n", stderrNone: true},
		{name: "--help", args: []string{"--help"}, code: 0, stdoutHas: "Usage:", stderrNone: true},
		{name: "-h", args: []string{"-h"}, code: 0, stdoutHas: "--on-change ACTION", stderrNone: true},
		{name: "no command", args: nil, code: 125,
			stderrHas: []string{"hush: error: no command given (see hush --help)\n"}},
		{name: "only options", args: []string{"-g", "--"}, code: 125,
			stderrHas: []string{"no command given"}},
		{name: "bad flag", args: []string{"--bogus", "npm"}, code: 125,
			stderrHas: []string{"hush: error: unknown option --bogus (see hush --help)\n"}},
		{name: "bad value", args: []string{"-e", "x", "npm"}, code: 125,
			stderrHas: []string{"hush: error: ", "-e", `"x"`}},
		{name: "bad env setting", args: []string{"npm"}, env: []string{"HUSH_DEBOUNCE=soon"}, code: 125,
			stderrHas: []string{"HUSH_DEBOUNCE", "soon"}},
		{name: "check takes no arguments", args: []string{"check", "extra"}, code: 125,
			stderrHas: []string{"check takes no arguments", "extra"}},
		{name: "check bad option", args: []string{"check", "--bogus"}, code: 125,
			stderrHas: []string{"unknown option --bogus"}},
		{name: "check with no references", args: []string{"check"}, env: []string{"PATH=/bin"}, code: 0,
			stdoutHas: "VARIABLE", stderrNone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCapture(t, tt.args, tt.env...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			switch {
			case tt.stdoutHas != "":
				if !strings.Contains(stdout, tt.stdoutHas) {
					t.Errorf("stdout %q lacks %q", stdout, tt.stdoutHas)
				}
			case stdout != tt.stdout:
				t.Errorf("stdout %q, want %q", stdout, tt.stdout)
			}
			if tt.stderrNone && stderr != "" {
				t.Errorf("stderr %q, want nothing", stderr)
			}
			for _, part := range tt.stderrHas {
				if !strings.Contains(stderr, part) {
					t.Errorf("stderr %q lacks %q", stderr, part)
				}
			}
			if tt.code == 125 && strings.Count(stderr, "\n") != 1 {
				t.Errorf("a usage error is one line, got %q", stderr)
			}
		})
	}
}

func TestRunCheck(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-value-never-printed"
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("resolves", func(t *testing.T) {
		t.Parallel()
		code, stdout, stderr := runCapture(t, []string{"check"}, "DB_PASSWORD=ref+file://"+path, "PLAIN=x")
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		for _, part := range []string{"DB_PASSWORD", "file", path, " ok ", "env"} {
			if !strings.Contains(stdout, part) {
				t.Errorf("table %q lacks %q", stdout, part)
			}
		}
		if strings.Contains(stdout+stderr, secret) || strings.Contains(stdout, "PLAIN") {
			t.Errorf("check printed a value or a plain variable:\n%s%s", stdout, stderr)
		}
	})

	t.Run("missing file fails closed", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(dir, "missing")
		code, stdout, stderr := runCapture(t, []string{"check"}, "DB_PASSWORD=ref+file://"+path, "API_KEY=ref+file://"+missing)
		if code != 125 {
			t.Fatalf("exit %d, want 125", code)
		}
		// The table still shows what did resolve.
		if !strings.Contains(stdout, "DB_PASSWORD") || !strings.Contains(stdout, " ok ") || !strings.Contains(stdout, " error ") {
			t.Errorf("stdout %q, want both variables with their status", stdout)
		}
		if !strings.Contains(stderr, "API_KEY") || !strings.Contains(stderr, missing) || strings.Contains(stderr, secret) {
			t.Errorf("stderr %q", stderr)
		}
	})
}

func TestAsWritten(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--bogus", "npm"}, "unknown option --bogus"},
		{[]string{"-bogus", "npm"}, "unknown option -bogus"},
		{[]string{"--bogus=1", "npm"}, "unknown option --bogus"},
		{[]string{"-x"}, "unknown option -x"},
		{[]string{"--stop-signal", "NOPE", "npm"}, `invalid value "NOPE" for flag --stop-signal: `},
		{[]string{"-e", "x", "npm"}, `invalid value "x" for flag -e: `},
		{[]string{"--deliver"}, "flag needs an argument: --deliver"},
	}
	for _, tt := range tests {
		_, _, err := parseOptions(tt.args, envFunc())
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("parseOptions(%q) error = %v, want it to start with %q", tt.args, err, tt.want)
		}
	}
}
