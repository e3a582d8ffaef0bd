package shim

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// mkfile creates path with mode, making its directory.
func mkfile(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask; set it exactly.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func execCode(err error) int {
	var ee *ExecError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return -1
}

func TestCheckExecutable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := filepath.Join(dir, "exe")
	plain := filepath.Join(dir, "plain")
	mkfile(t, exe, 0o755)
	mkfile(t, plain, 0o644)
	mkfile(t, filepath.Join(dir, "owner-only"), 0o700)
	tests := []struct {
		path string
		code int // 0: executable
	}{
		{exe, 0},
		{filepath.Join(dir, "owner-only"), 0},
		{filepath.Join(dir, "missing"), ExitNotFound},
		{filepath.Join(plain, "below-a-file"), ExitNotFound},
		{dir, ExitCannotExecute},
		// The mode bits decide, not access(2): root may read anything, but
		// execve still refuses a file without an x bit.
		{plain, ExitCannotExecute},
	}
	for _, tt := range tests {
		err := checkExecutable("cmd", tt.path)
		if tt.code == 0 {
			if err != nil {
				t.Errorf("checkExecutable(%s): %v", tt.path, err)
			}
			continue
		}
		if got := execCode(err); got != tt.code {
			t.Errorf("checkExecutable(%s) = %v (code %d), want code %d", tt.path, err, got, tt.code)
		}
	}
}

func TestLookPath(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	a, b, c := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")
	for _, d := range []string{a, b, c} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mkfile(t, filepath.Join(b, "only-in-b"), 0o755)
	mkfile(t, filepath.Join(a, "shadowed"), 0o644) // not executable, earlier in PATH
	mkfile(t, filepath.Join(b, "shadowed"), 0o755)
	mkfile(t, filepath.Join(a, "noexec"), 0o644)
	mkfile(t, filepath.Join(c, "first"), 0o755)
	mkfile(t, filepath.Join(b, "first"), 0o755)
	if err := os.Mkdir(filepath.Join(a, "isdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	mkfile(t, filepath.Join(b, "dirfirst"), 0o755)
	if err := os.Mkdir(filepath.Join(a, "dirfirst"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := strings.Join([]string{a, b, c}, ":")

	tests := []struct {
		name    string
		file    string
		pathEnv string
		want    string // the path found; empty when an error is expected
		code    int
	}{
		{"found in the second entry", "only-in-b", path, filepath.Join(b, "only-in-b"), 0},
		{"non-executable earlier, executable later", "shadowed", path, filepath.Join(b, "shadowed"), 0},
		{"a directory earlier, executable later", "dirfirst", path, filepath.Join(b, "dirfirst"), 0},
		{"first match wins", "first", c + ":" + b, filepath.Join(c, "first"), 0},
		{"missing everywhere", "nope", path, "", ExitNotFound},
		{"only a non-executable file", "noexec", path, "", ExitCannotExecute},
		{"only a directory", "isdir", path, "", ExitCannotExecute},
		{"missing dirs in PATH are skipped", "only-in-b", filepath.Join(root, "none") + ":" + b, filepath.Join(b, "only-in-b"), 0},
		{"absolute executable", filepath.Join(b, "only-in-b"), "/nonexistent", filepath.Join(b, "only-in-b"), 0},
		{"absolute missing", filepath.Join(a, "nope"), path, "", ExitNotFound},
		{"absolute non-executable", filepath.Join(a, "noexec"), path, "", ExitCannotExecute},
		{"absolute directory", a, path, "", ExitCannotExecute},
		// A name with a slash is never searched in PATH.
		{"relative with a slash is not searched", "b/only-in-b", path, "", ExitNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := lookPath(tt.file, tt.pathEnv)
			if tt.code == 0 {
				if err != nil || got != tt.want {
					t.Fatalf("lookPath(%q) = %q, %v; want %q", tt.file, got, err, tt.want)
				}
				return
			}
			if c := execCode(err); c != tt.code {
				t.Fatalf("lookPath(%q) = %q, %v (code %d); want code %d", tt.file, got, err, c, tt.code)
			}
			var ee *ExecError
			errors.As(err, &ee)
			if ee.Command != tt.file {
				t.Errorf("ExecError.Command = %q, want %q", ee.Command, tt.file)
			}
		})
	}

	t.Run("not found says so", func(t *testing.T) {
		t.Parallel()
		_, err := lookPath("nope", path)
		if err == nil || err.Error() != "nope: command not found" || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("lookPath(nope) error = %v", err)
		}
	})

	t.Run("empty PATH uses the default", func(t *testing.T) {
		t.Parallel()
		got, err := lookPath("sh", "")
		if err != nil {
			t.Fatalf("lookPath(sh, \"\"): %v", err)
		}
		if !slices.Contains(filepath.SplitList(defaultPath), filepath.Dir(got)) {
			t.Errorf("lookPath(sh, \"\") = %q, not in %s", got, defaultPath)
		}
	})
}

func TestClassifyExecError(t *testing.T) {
	t.Parallel()
	pathErr := func(errno syscall.Errno) error {
		return &os.PathError{Op: "fork/exec", Path: "/x", Err: errno}
	}
	tests := []struct {
		err  error
		code int
	}{
		{pathErr(unix.ENOENT), ExitNotFound},
		{pathErr(unix.ENOTDIR), ExitNotFound},
		{pathErr(unix.EACCES), ExitCannotExecute},
		{pathErr(unix.ENOEXEC), ExitCannotExecute},
		{pathErr(unix.EISDIR), ExitCannotExecute},
		{pathErr(unix.ELOOP), ExitCannotExecute},
		{pathErr(unix.ETXTBSY), ExitCannotExecute},
		{pathErr(unix.E2BIG), ExitCannotExecute},
		{pathErr(unix.ENAMETOOLONG), ExitCannotExecute},
		{unix.EACCES, ExitCannotExecute},
		{pathErr(unix.EPERM), ExitHushFailed},
		{pathErr(unix.EINVAL), ExitHushFailed},
		{errors.New("something else"), ExitHushFailed},
	}
	for _, tt := range tests {
		err := classifyExecError("cmd", tt.err)
		var ee *ExecError
		if !errors.As(err, &ee) {
			t.Errorf("classifyExecError(%v) = %T, want *ExecError", tt.err, err)
			continue
		}
		if ee.Code != tt.code || ee.Command != "cmd" {
			t.Errorf("classifyExecError(%v) = %+v, want code %d", tt.err, ee, tt.code)
		}
	}
}

func TestExecErrorMessage(t *testing.T) {
	t.Parallel()
	nf := &ExecError{Command: "npm", Code: ExitNotFound, Err: os.ErrNotExist}
	if got := nf.Error(); got != "npm: command not found" {
		t.Errorf("not found: %q", got)
	}
	ce := &ExecError{Command: "npm", Code: ExitCannotExecute, Err: unix.EACCES}
	if got := ce.Error(); got != "npm: cannot execute: permission denied" {
		t.Errorf("cannot execute: %q", got)
	}
	if !errors.Is(ce, unix.EACCES) {
		t.Error("ExecError does not unwrap to its cause")
	}
}

func TestEnvValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  []string
		key  string
		want string
	}{
		{nil, "PATH", ""},
		{[]string{"PATH=/bin"}, "PATH", "/bin"},
		{[]string{"PATH=/bin", "PATH=/usr/bin"}, "PATH", "/usr/bin"}, // the last one wins, as in execve's getenv
		{[]string{"PATHX=/bin"}, "PATH", ""},
		{[]string{"XPATH=/bin"}, "PATH", ""},
		{[]string{"PATH"}, "PATH", ""},
		{[]string{"PATH="}, "PATH", ""},
		{[]string{"A=b=c"}, "A", "b=c"},
		{[]string{"PATH=/bin", "PATH"}, "PATH", "/bin"},
	}
	for _, tt := range tests {
		if got := envValue(tt.env, tt.key); got != tt.want {
			t.Errorf("envValue(%q, %q) = %q, want %q", tt.env, tt.key, got, tt.want)
		}
	}
}

func TestWithHome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  []string
		home string
		want []string
	}{
		{nil, "/home/app", []string{"HOME=/home/app"}},
		{[]string{"PATH=/bin", "HOME=/root"}, "/home/app", []string{"PATH=/bin", "HOME=/home/app"}},
		{[]string{"HOME=/a", "X=1", "HOME=/b"}, "/", []string{"X=1", "HOME=/"}},
		{[]string{"HOMEDIR=/x", "MY_HOME=/y", "HOME"}, "/h", []string{"HOMEDIR=/x", "MY_HOME=/y", "HOME", "HOME=/h"}},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.env)
		got := withHome(in, tt.home)
		if !slices.Equal(got, tt.want) {
			t.Errorf("withHome(%q, %q) = %q, want %q", tt.env, tt.home, got, tt.want)
		}
		if !slices.Equal(in, tt.env) {
			t.Errorf("withHome modified its input: %q", in)
		}
	}
}
