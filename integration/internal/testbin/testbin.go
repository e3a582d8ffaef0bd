// Package testbin gives the integration test packages the binaries they
// drive: the hush under test and helper programs, built the way `make build`
// builds hush (static, so that it runs in a scratch image or a PID
// namespace unchanged).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Hush returns the hush binary under test: $HUSH_BIN when set (what
// `make test` passes, so every package tests the same build), otherwise a
// fresh build of ./cmd/hush written into dir.
func Hush(dir string) (string, error) {
	if p := os.Getenv("HUSH_BIN"); p != "" {
		return filepath.Abs(p)
	}
	out := filepath.Join(dir, "hush")
	return out, Build(out, "./cmd/hush")
}

// Build compiles the package pkg, given relative to the module root, into a
// static binary at out.
func Build(out, pkg string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// moduleRoot asks the go command, so that tests work from any package
// directory.
func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the hush module")
	}
	return filepath.Dir(gomod), nil
}
