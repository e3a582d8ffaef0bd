// Package infisical drives the compiled hush binary against a fake
// Infisical server running in the test process (fake_test.go explains why
// it is a fake and which wire format it follows).
//
// Run from the module root:
//
//	go test ./integration/infisical/
//	HUSH_BIN=bin/hush go test ./integration/infisical/
package infisical

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hushinit/hush/integration/internal/testbin"
)

var hushBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hush-infisical-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if hushBin, err = testbin.Hush(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// waitTimeout bounds every wait for a condition. It is a safety net for a
// hung test, not a timing assertion.
const waitTimeout = 30 * time.Second

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer collects hush's stdout and stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// childScript is the supervised program: it saves its environment to a
// file (never to the output, which the tests check for leaks) and waits,
// leaving promptly on SIGTERM.
const childScript = `trap 'kill $! 2>/dev/null; exit 0' TERM
env > "$INFTEST_OUT/.tmp.$$" && mv "$INFTEST_OUT/.tmp.$$" "$INFTEST_OUT/env.$$"
sleep 1000 & wait`

// watchArgs are the options of a run that watches: fast polls, a short
// debounce, debug logs (each poll logs one line).
var watchArgs = []string{"-g", "-v", "--debounce", "50ms", "--poll-interval", "200ms"}

type hushRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *syncBuffer
	outDir string
	done   chan struct{}
	seen   map[string]bool
}

// start runs hush with env (plus PATH and the child's output directory)
// and args; with no "--" in args, the child script is appended.
func start(t *testing.T, env []string, args ...string) *hushRun {
	t.Helper()
	r := &hushRun{t: t, out: &syncBuffer{}, outDir: t.TempDir(), done: make(chan struct{}), seen: map[string]bool{}}
	hasCmd := false
	for _, a := range args {
		if a == "--" || a == "check" {
			hasCmd = true
		}
	}
	if !hasCmd {
		args = append(args, "--", "sh", "-c", childScript)
	}
	r.cmd = exec.Command(hushBin, args...)
	r.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "INFTEST_OUT=" + r.outDir}, env...)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	// A child left behind by a killed hush keeps the output pipe open;
	// do not wait for it once hush itself is gone.
	r.cmd.WaitDelay = 2 * time.Second
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// wait returns hush's exit status once it has exited.
func (r *hushRun) wait() int {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(waitTimeout):
		_ = r.cmd.Process.Kill()
		<-r.done
		r.t.Fatalf("hush did not exit; output:\n%s", r.out.String())
	}
	return r.cmd.ProcessState.ExitCode()
}

// expectRefused waits for hush to exit 125 (it could not start the child)
// and checks that its output holds each of wants; it returns the output.
func (r *hushRun) expectRefused(wants ...string) string {
	r.t.Helper()
	if code := r.wait(); code != 125 {
		r.t.Fatalf("exit status %d, want 125; output:\n%s", code, r.out.String())
	}
	out := r.out.String()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			r.t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	return out
}

// stop sends SIGTERM (like docker stop) and waits for the exit.
func (r *hushRun) stop() int {
	r.t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	return r.wait()
}

func (r *hushRun) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *hushRun) envFiles() []string {
	names, _ := filepath.Glob(filepath.Join(r.outDir, "env.*"))
	sort.Strings(names)
	return names
}

// nextChild waits for a child started after the ones already returned and
// returns its environment.
func (r *hushRun) nextChild() map[string]string {
	r.t.Helper()
	var name string
	waitFor(r.t, "a new child", func() bool {
		if r.exited() {
			r.t.Fatalf("hush exited with %d; output:\n%s", r.cmd.ProcessState.ExitCode(), r.out.String())
		}
		for _, n := range r.envFiles() {
			if !r.seen[n] {
				name = n
				return true
			}
		}
		return false
	})
	r.seen[name] = true
	b, err := os.ReadFile(name)
	if err != nil {
		r.t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// children counts the children started so far.
func (r *hushRun) children() int { return len(r.envFiles()) }

// lines counts output lines containing s.
func (r *hushRun) lines(s string) int {
	n := 0
	for _, l := range strings.Split(r.out.String(), "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// Lines hush logs, which the tests wait for or count.
const (
	logPolled     = "polled Infisical folder"
	logPollFailed = "polling Infisical failed"
	logRecovered  = "Infisical answers again"
)

// assertNoLeak fails if hush's output holds any of the secrets.
func assertNoLeak(t *testing.T, output string, secrets map[string]string) {
	t.Helper()
	for label, s := range secrets {
		if s != "" && strings.Contains(output, s) {
			t.Errorf("hush's output contains %s", label)
		}
	}
}
