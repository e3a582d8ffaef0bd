package integration

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestScript runs the CLI stories in testdata/script/*.txtar, each once
// with hush as PID 1 and once as a subreaper. Besides the standard
// testscript commands they have:
//
//	hush ARGS...    run hush in the current mode (prefix ! when it must fail)
//	status N        the exit status of the last hush was N
//	stderrlines N   the last command wrote exactly N non-empty lines on stderr
//
// probe (integration/internal/probe) is on $PATH.
func TestScript(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			testscript.Run(t, testscript.Params{
				Dir:                 "testdata/script",
				RequireExplicitExec: true,
				RequireUniqueNames:  true,
				// Report every broken expectation of a story, not only the first.
				ContinueOnError: true,
				Setup: func(env *testscript.Env) error {
					env.Setenv("PATH", binDir+string(os.PathListSeparator)+env.Getenv("PATH"))
					env.Values[modeKey{}] = m
					return nil
				},
				Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
					"hush":        cmdHush,
					"status":      cmdStatus,
					"stderrlines": cmdStderrLines,
				},
			})
		})
	}
}

type modeKey struct{}

// lastStatus remembers the exit status of each script's last hush.
var lastStatus sync.Map // *testscript.TestScript -> int

func cmdHush(ts *testscript.TestScript, neg bool, args []string) {
	m := ts.Value(modeKey{}).(mode)
	argv := m.argv(args...)
	err := ts.Exec(argv[0], argv[1:]...)
	status := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("hush: %v", err)
		}
		if ee.ExitCode() < 0 {
			ts.Fatalf("hush was killed: %v", err)
		}
		status = ee.ExitCode()
	}
	lastStatus.Store(ts, status)
	switch {
	case neg && status == 0:
		ts.Fatalf("hush succeeded unexpectedly")
	case !neg && status != 0:
		ts.Fatalf("hush failed with status %d", status)
	}
}

func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: status N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got, ok := lastStatus.Load(ts)
	if !ok {
		ts.Fatalf("status: no hush has run yet")
	}
	if got.(int) != want {
		ts.Fatalf("hush exit status = %d, want %d", got, want)
	}
}

func cmdStderrLines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: stderrlines N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	for _, l := range strings.Split(ts.ReadFile("stderr"), "\n") {
		if strings.TrimSpace(l) != "" {
			got++
		}
	}
	if got != want {
		ts.Fatalf("stderr has %d non-empty lines, want %d", got, want)
	}
}
