package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// goWrapperName labels the calibration row: the smallest Go program that
// does an init's job (start the command, forward signals, exit with its
// status). DESIGN.md states the start-up budget against this program
// (hush-files <= 1.5x, hush <= 2x of it, measured in the same run), and
// asks it to forward every signal (signal.Notify with no list) as a PID 1
// must: registering for every signal has a start-up cost of its own, which
// a wrapper listing six signals would not pay.
const goWrapperName = "go-exec-wrapper"

const goWrapperSource = `package main

import (
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs) // every signal, as a PID 1 must forward them

	if err := cmd.Start(); err != nil {
		os.Exit(127)
	}
	go func() {
		for s := range sigs {
			// SIGCHLD is the wrapper's own business, SIGURG the Go
			// runtime's preemption signal.
			if s == syscall.SIGCHLD || s == syscall.SIGURG {
				continue
			}
			_ = cmd.Process.Signal(s)
		}
	}()
	_ = cmd.Wait()
	os.Exit(cmd.ProcessState.ExitCode())
}
`

// buildGoWrapper compiles the calibration program into dir with the same
// flags the Makefile uses for hush (static, stripped, trimmed), so that the
// two differ only in what the code does. Without a Go toolchain on PATH the
// row is simply reported as missing.
func buildGoWrapper(ctx context.Context, dir string) subject {
	s := subject{name: goWrapperName, dashes: true}
	goTool, err := exec.LookPath("go")
	if err != nil {
		s.missing = "no go toolchain on PATH"
		return s
	}
	src := filepath.Join(dir, "gowrapper")
	if err := os.MkdirAll(src, 0o755); err != nil {
		s.missing = fmt.Sprintf("build: %v", err)
		return s
	}
	files := map[string]string{"go.mod": "module gowrapper\n\ngo 1.22\n", "main.go": goWrapperSource}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			s.missing = fmt.Sprintf("build: %v", err)
			return s
		}
	}
	out := filepath.Join(dir, goWrapperName)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags", "-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if msg, err := cmd.CombinedOutput(); err != nil {
		s.missing = fmt.Sprintf("build failed: %v: %s", err, firstLine(string(msg)))
		return s
	}
	s.path, s.shown = out, "(built in a temp dir)"
	return s
}
