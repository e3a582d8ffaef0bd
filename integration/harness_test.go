package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// patience bounds every wait. It is generous on purpose: these tests share
// small machines, and they assert what happens, never how fast.
const patience = 60 * time.Second

// A mode is one way of running hush. Every behaviour test runs in both.
type mode struct {
	name string
	pid1 bool
}

var modes = []mode{
	// PID 1 of a fresh PID namespace, as in a container.
	{name: "pid1", pid1: true},
	// A plain child of the test; hush makes itself a child subreaper.
	{name: "subreaper", pid1: false},
}

// inModes runs f once per mode, as parallel subtests named after the mode.
func inModes(t *testing.T, f func(t *testing.T, m mode)) {
	t.Helper()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f(t, m)
		})
	}
}

// argv is the command line that runs hush with args in mode m.
func (m mode) argv(args ...string) []string {
	if m.pid1 {
		return append([]string{"unshare", "--pid", "--fork", "--mount-proc", hushBin}, args...)
	}
	return append([]string{hushBin}, args...)
}

// opts are the less common ways to start hush.
type opts struct {
	env   []string // added to the test's environment
	stdin string   // hush's stdin (default /dev/null)
	dir   string   // working directory (default the test's)
	wrap  []string // runs wrap... -- argv instead of argv (e.g. probe sigwrap)
}

// A hushRun is one started hush, with its output collected as it comes.
type hushRun struct {
	t      *testing.T
	mode   mode
	cmd    *exec.Cmd
	tag    string
	stdout *output
	stderr *output
	exited chan struct{}
	state  *os.ProcessState // set before exited is closed
	pid    int              // hush's pid in the test's namespace, once known
}

var tagCounter atomic.Int64

// start runs hush with args in mode m and arranges for everything it
// started to be killed when the test ends.
func start(t *testing.T, m mode, args ...string) *hushRun {
	t.Helper()
	return startOpts(t, m, opts{}, args...)
}

func startOpts(t *testing.T, m mode, o opts, args ...string) *hushRun {
	t.Helper()
	argv := m.argv(args...)
	if o.wrap != nil {
		argv = append(append(append([]string{}, o.wrap...), "--"), argv...)
	}
	r := &hushRun{
		t:      t,
		mode:   m,
		tag:    fmt.Sprintf("%d-%d", os.Getpid(), tagCounter.Add(1)),
		exited: make(chan struct{}),
	}
	r.cmd = exec.Command(argv[0], argv[1:]...)
	// Every process hush starts inherits the tag, so cleanup can find
	// them wherever they were re-parented (the name avoids HUSH_, which
	// hush may strip from the child's environment).
	r.cmd.Env = append(append(os.Environ(), "ITEST_TAG="+r.tag), o.env...)
	r.cmd.Dir = o.dir
	// Its own process group: a stray kill(-pgid) can never hit go test.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if o.stdin != "" {
		f := filepath.Join(t.TempDir(), "stdin")
		if err := os.WriteFile(f, []byte(o.stdin), 0o644); err != nil {
			t.Fatal(err)
		}
		in, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		r.cmd.Stdin = in
	}
	var outW, errW *os.File
	r.stdout, outW = newOutput(t)
	r.stderr, errW = newOutput(t)
	r.cmd.Stdout, r.cmd.Stderr = outW, errW
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start %q: %v", argv, err)
	}
	outW.Close()
	errW.Close()
	t.Logf("started %q (tag %s)", argv, r.tag)
	go func() {
		r.state, _ = r.cmd.Process.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		killTagged(r.tag)
		r.cmd.Process.Kill()
		select {
		case <-r.exited:
		case <-time.After(patience):
			t.Errorf("hush (pid %d) did not go away after SIGKILL", r.cmd.Process.Pid)
		}
	})
	return r
}

// hushPid is hush's pid as seen from the test. As PID 1 it is the only
// child of unshare once unshare's child has exec'd hush.
func (r *hushRun) hushPid() int {
	r.t.Helper()
	if r.pid != 0 {
		return r.pid
	}
	if !r.mode.pid1 {
		r.pid = r.cmd.Process.Pid
		return r.pid
	}
	want, err := filepath.EvalSymlinks(hushBin)
	if err != nil {
		r.t.Fatal(err)
	}
	// A wrapper (probe sigwrap) execs unshare in its own process, so
	// this is unshare's pid either way.
	unshare := r.cmd.Process.Pid
	r.eventually("hush to run as unshare's child", func() bool {
		for _, c := range children(unshare) {
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", c)); exe == want {
				r.pid = c
				return true
			}
		}
		return false
	})
	return r.pid
}

// signal sends sig to hush.
func (r *hushRun) signal(sig syscall.Signal) {
	r.t.Helper()
	if err := unix.Kill(r.hushPid(), sig); err != nil {
		r.t.Fatalf("kill(hush, %d): %v", sig, err)
	}
}

// expectRefused waits for hush to exit 125 (it could not start the
// command) and checks that its log holds each of wants; it returns the log.
func (r *hushRun) expectRefused(wants ...string) string {
	r.t.Helper()
	r.expectExit(125)
	logs := r.stderr.all(r.t)
	for _, want := range wants {
		if !strings.Contains(logs, want) {
			r.t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	return logs
}

// stressRounds is how many times a stress test repeats: full, or short with
// go test -short.
func stressRounds(full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

// terminate sends SIGTERM to hush and checks that it exits with want.
func (r *hushRun) terminate(want int) {
	r.t.Helper()
	r.signal(syscall.SIGTERM)
	r.expectExit(want)
}

// child waits until hush has a child running the program named comm and
// returns its pid.
func (r *hushRun) child(comm string) int {
	r.t.Helper()
	var pid int
	r.eventually("hush's child "+comm, func() bool {
		for _, c := range children(r.hushPid()) {
			if procComm(c) == comm {
				pid = c
				return true
			}
		}
		return false
	})
	return pid
}

// waitStdout waits until hush's stdout has a line equal to line.
func (r *hushRun) waitStdout(line string) {
	r.t.Helper()
	r.eventually(fmt.Sprintf("line %q on stdout", line), func() bool {
		return hasLine(r.stdout.String(), line)
	})
}

// wait waits for hush to exit and returns its exit status (-1 and a test
// error if it was killed by a signal).
func (r *hushRun) wait() int {
	r.t.Helper()
	select {
	case <-r.exited:
	case <-time.After(patience):
		r.t.Fatalf("hush did not exit within %v\nstdout:\n%s\nstderr:\n%s", patience, r.stdout, r.stderr)
	}
	ws := r.state.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		r.t.Errorf("hush was killed by signal %d\nstderr:\n%s", ws.Signal(), r.stderr)
		return -1
	}
	return ws.ExitStatus()
}

// expectExit waits for hush to exit and checks its exit status.
func (r *hushRun) expectExit(want int) {
	r.t.Helper()
	if got := r.wait(); got != want {
		r.t.Errorf("hush exit status = %d, want %d\nstdout:\n%s\nstderr:\n%s", got, want, r.stdout, r.stderr)
	}
}

func (r *hushRun) hasExited() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

// eventually polls cond until it holds, failing the test after patience.
// It also fails early, with hush's output, if hush exits meanwhile and the
// condition still does not hold.
func (r *hushRun) eventually(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if r.hasExited() {
			// One more look: the condition may have become true just
			// before hush exited.
			if cond() {
				return
			}
			r.t.Fatalf("hush exited (%v) while waiting for %s\nstdout:\n%s\nstderr:\n%s",
				r.state, what, r.stdout, r.stderr)
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out after %v waiting for %s\nstdout:\n%s\nstderr:\n%s",
				patience, what, r.stdout, r.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventually polls cond until it holds, failing the test after patience.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", patience, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// output collects what hush writes on one of its streams.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
	eof chan struct{}
}

func newOutput(t *testing.T) (*output, *os.File) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	o := &output{eof: make(chan struct{})}
	go func() {
		defer close(o.eof)
		defer pr.Close()
		b := make([]byte, 64<<10)
		for {
			n, err := pr.Read(b)
			o.mu.Lock()
			o.buf.Write(b[:n])
			o.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return o, pw
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// all waits until every writer has closed the stream and returns it all.
func (o *output) all(t *testing.T) string {
	t.Helper()
	select {
	case <-o.eof:
	case <-time.After(patience):
		t.Fatalf("stream still open after %v; so far:\n%s", patience, o)
	}
	return o.String()
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// waitFileLine waits until the file at path has a line equal to line.
func waitFileLine(t *testing.T, path, line string) {
	t.Helper()
	eventually(t, fmt.Sprintf("line %q in %s", line, path), func() bool {
		b, _ := os.ReadFile(path)
		return hasLine(string(b), line)
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// --- /proc ---

// children lists pid's children, zombies included, from every thread's
// list: an orphan is re-parented to some thread of the reaper, not
// necessarily its main one.
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var pids []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// procStat returns a process's state letter (R, S, T, Z, ...) and ppid; ok
// is false once the process is gone.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	rest := string(b[bytes.LastIndexByte(b, ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

func procComm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != 'Z'
}

// gone reports whether pid has exited (a zombie counts: it has exited,
// only not been reaped yet).
func gone(pid int) bool { return !alive(pid) }

// sigSet reads a signal-set field (SigIgn, SigBlk, ShdPnd, ...) of
// /proc/pid/status; bit n-1 is signal n.
func sigSet(t *testing.T, pid int, field string) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	return parseSigSet(t, string(b), field)
}

func parseSigSet(t *testing.T, status, field string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + field + `:\s*([0-9a-f]+)$`).FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("no %s in\n%s", field, status)
	}
	v, err := strconv.ParseUint(m[1], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func bit(sig syscall.Signal) uint64 { return 1 << (uint(sig) - 1) }

// taggedPids lists the processes that carry tag in their environment.
// Zombies have no environment any more and are not listed.
func taggedPids(tag string) []int {
	needle := []byte("\x00ITEST_TAG=" + tag + "\x00")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(d + "/environ")
		if err != nil {
			continue
		}
		if bytes.Contains(append([]byte{0}, env...), needle) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killTagged SIGKILLs every process that carries tag, repeating until none
// is left, since some may be forking while we look.
func killTagged(tag string) {
	for range 50 {
		pids := taggedPids(tag)
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			unix.Kill(p, unix.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveTagged lists the live processes of run r whose command line
// contains substr.
func (r *hushRun) liveTagged(substr string) []int {
	var found []int
	for _, p := range taggedPids(r.tag) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if alive(p) && bytes.Contains(b, []byte(substr)) {
			found = append(found, p)
		}
	}
	return found
}
