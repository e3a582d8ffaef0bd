package vault

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// patience bounds every wait: these tests share small machines and assert
// what happens, never how fast.
const patience = 90 * time.Second

// hushRun is one hush process, its output collected as it comes.
type hushRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *syncBuf
	stderr *syncBuf
	exited chan struct{}
	status int
	tag    string
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// baseEnv is the environment every hush run starts from: nothing of the
// test machine's Vault settings.
func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmpRoot}
}

// vaultEnv points hush at v with the root token.
func (v *vaultServer) env() []string {
	return append(baseEnv(), "VAULT_ADDR="+v.addr, "VAULT_TOKEN="+v.token)
}

// startHush runs hush with env (complete) and args, debug logs on, and
// checks at the end of the test that none of the strings in secrets
// appeared in anything hush printed.
func startHush(t *testing.T, env []string, secrets []string, args ...string) *hushRun {
	t.Helper()
	r := &hushRun{t: t, stdout: &syncBuf{}, stderr: &syncBuf{}, exited: make(chan struct{})}
	r.cmd = exec.Command(hushBin, append([]string{"-v"}, args...)...)
	tag := randomHex(8)
	r.tag = tag
	// Every process hush starts inherits the tag, so cleanup finds the
	// children too, wherever they were re-parented.
	r.cmd.Env = append(append([]string{}, env...), "ITEST_TAG="+tag)
	r.cmd.WaitDelay = 5 * time.Second
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := r.cmd.Wait()
		r.status = r.cmd.ProcessState.ExitCode()
		if ee, ok := err.(*exec.ExitError); ok && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
			r.status = -1
		}
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.kill()
		select {
		case <-r.exited:
		case <-time.After(patience):
			t.Errorf("hush did not exit after SIGKILL")
		}
		r.checkNoLeak(secrets)
		if os.Getenv("ITEST_SHOW_LOGS") != "" {
			t.Logf("hush's stderr:\n%s", r.stderr)
		}
	})
	return r
}

// kill kills hush and everything it started.
func (r *hushRun) kill() {
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	killTagged(r.tag)
}

// checkNoLeak fails the test if hush printed any of secrets (values,
// tokens, secret ids) on its stdout or stderr.
func (r *hushRun) checkNoLeak(secrets []string) {
	r.t.Helper()
	out := r.stdout.String() + r.stderr.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			r.t.Errorf("hush's output contains a secret (%d bytes, starting %.3q...):\n%s", len(s), s, out)
		}
	}
}

// wait waits for hush to exit and returns its status.
func (r *hushRun) wait() int {
	r.t.Helper()
	select {
	case <-r.exited:
	case <-time.After(patience):
		r.t.Fatalf("hush did not exit within %v\nstderr:\n%s", patience, r.stderr)
	}
	return r.status
}

func (r *hushRun) expectExit(want int) {
	r.t.Helper()
	if got := r.wait(); got != want {
		r.t.Fatalf("hush exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", got, want, r.stdout, r.stderr)
	}
}

// eventually polls cond until it holds; it fails the test with hush's
// output after patience, or when hush exits and cond still does not hold.
func (r *hushRun) eventually(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		select {
		case <-r.exited:
			if cond() {
				return
			}
			r.t.Fatalf("hush exited (status %d) while waiting for %s\nstderr:\n%s", r.status, what, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s\nstderr:\n%s", what, r.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countLog counts hush's log lines containing s.
func (r *hushRun) countLog(s string) int {
	return strings.Count(r.stderr.String(), s)
}

// childFile is a file the child writes its observations to (not stdout:
// hush's output must stay free of secrets, and the test checks it).
func childFile(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "child.out")
}

// lines returns the non-empty lines of a child's file.
func lines(path string) []string {
	b, _ := os.ReadFile(path)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// waitLines waits until the child's file has at least n lines and returns
// them.
func (r *hushRun) waitLines(path string, n int) []string {
	r.t.Helper()
	r.eventually(fmt.Sprintf("%d lines in the child's output", n), func() bool { return len(lines(path)) >= n })
	return lines(path)
}

// longChild is a child that records its environment's NAMES=values for the
// given variables on one line, then stays up until stopped.
func longChild(out string, vars ...string) []string {
	return []string{"sh", "-c", recordScript(out, vars...) + "; exec sleep 100000"}
}

// shortChild records and exits.
func shortChild(out string, vars ...string) []string {
	return []string{"sh", "-c", recordScript(out, vars...)}
}

// expectChildSaw waits for hush to exit 0 and checks that its shortChild
// recorded exactly the line want in out.
func (r *hushRun) expectChildSaw(out, want string) {
	r.t.Helper()
	r.expectExit(0)
	if got := lines(out); len(got) != 1 || got[0] != want {
		r.t.Fatalf("child saw\n%q\nwant\n%q", got, want)
	}
}

func recordScript(out string, vars ...string) string {
	var parts []string
	for _, v := range vars {
		parts = append(parts, fmt.Sprintf(`%s=${%s-<unset>}`, v, v))
	}
	return fmt.Sprintf(`echo "%s" >> %q`, strings.Join(parts, " "), out)
}

// args joins hush options, "--" and a command.
func args(opts []string, cmd []string) []string {
	return append(append(append([]string{}, opts...), "--"), cmd...)
}

// killTagged kills every process whose environment holds ITEST_TAG=tag.
func killTagged(tag string) {
	want := []byte("ITEST_TAG=" + tag + "\x00")
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err == nil && bytes.Contains(append(b, 0), want) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// eventually polls cond until it holds, failing the test after patience.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
