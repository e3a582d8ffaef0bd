// Package integration drives the compiled hush binary from outside, like a
// user or a container runtime would: as PID 1 of a fresh PID namespace and
// as a plain child process (where hush makes itself a child subreaper).
//
// Run from the module root, as root (unshare needs CAP_SYS_ADMIN):
//
//	go test ./integration/                       # everything
//	go test ./integration/ -run TestScript       # the CLI stories in testdata/script
//	go test ./integration/ -run 'TestRewrite/swap/pid1' # one case, one mode
//	HUSH_BIN=/path/to/hush go test ./integration/
//
// -short trims the loops (T7's 256 remaps, the 100 SIGCHLD-coalescing
// rounds) to a sample.
package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hushinit/hush/integration/internal/testbin"
)

// Paths of the binaries under test, set by TestMain.
var (
	hushBin  string // the hush binary ($HUSH_BIN or built from ./cmd/hush)
	probeBin string // ./integration/internal/probe, the child-side helper
	binDir   string // holds probe (and hush when built here); on $PATH in scripts
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hush-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Readable by everyone: the --user tests exec the probe as nobody.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir = dir
	probeBin = filepath.Join(dir, "probe")
	if err := testbin.Build(probeBin, "./integration/internal/probe"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if hushBin, err = testbin.Hush(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// hush must not inherit the test binary's own settings by accident.
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "HUSH_") && name != "HUSH_BIN" {
			os.Unsetenv(name)
		}
	}
	return m.Run()
}
