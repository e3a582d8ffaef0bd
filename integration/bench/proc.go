package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// basePath is the only inherited setting: every subject gets the same small
// environment, so neither a developer's HUSH_* variables nor a huge shell
// environment can tilt one run against another.
const basePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// envFor builds the environment for one run of s with extra variables.
func envFor(s subject, extra []string) []string {
	env := append([]string{basePath}, s.env...)
	return append(env, extra...)
}

// runResult is what one short run of a subject costs.
type runResult struct {
	cpu    time.Duration // user+sys of the process and every child it reaped
	wall   time.Duration // from fork to reaped
	code   int           // exit status, -1 when killed by a signal
	stderr string        // only captured by probe runs
}

// runTimeout bounds a single short run so that a hung build cannot stall the
// whole benchmark; nothing measured here comes close to it.
const runTimeout = 30 * time.Second

// runOnce runs argv to completion and reports its cost. The CPU figure comes
// from the rusage that wait4 returns, which covers the process and all of its
// descendants that it waited for: for `X -- /bin/true` that is the init and
// the /bin/true it reaped, exactly what a container start pays.
func runOnce(ctx context.Context, argv, env []string, captureStderr bool) (runResult, error) {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var errBuf capped
	if captureStderr {
		cmd.Stderr = &errBuf
	}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return runResult{}, fmt.Errorf("run %s: %w", argv[0], err)
	}
	if ctx.Err() != nil {
		return runResult{}, fmt.Errorf("run %s: %w", argv[0], ctx.Err())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return runResult{}, fmt.Errorf("run %s: no rusage", argv[0])
	}
	return runResult{
		cpu:    time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		wall:   wall,
		code:   cmd.ProcessState.ExitCode(),
		stderr: errBuf.String(),
	}, nil
}

// capped is an io.Writer that keeps only the first few KiB, enough to quote
// an error message in the report without letting a chatty process grow the
// benchmark's memory.
type capped struct {
	mu  sync.Mutex
	buf []byte
}

const cappedMax = 4096

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := cappedMax - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSpace(string(c.buf))
}

// proc is a long-running subject (supervising sleep or sigecho).
type proc struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed once the process has been reaped
	stderr *capped
	mu     sync.Mutex
	known  []int // descendants seen while the init was alive
}

// startProc starts argv in the background and reaps it in a goroutine, so
// that a subject which dies early is noticed instead of left as a zombie.
func startProc(argv, env []string, stdout *os.File) (*proc, error) {
	p := &proc{done: make(chan struct{}), stderr: &capped{}}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = env
	if stdout != nil { // a typed nil *os.File would not mean /dev/null
		p.cmd.Stdout = stdout
	}
	p.cmd.Stderr = p.stderr
	// A grandchild may keep the stderr pipe open after the init is gone.
	p.cmd.WaitDelay = 2 * time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	go func() {
		_ = p.cmd.Wait() // the exit status is reported by exited()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the init has already terminated.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitNote describes an early exit for the report.
func (p *proc) exitNote() string {
	msg := "exited early"
	if ps := p.cmd.ProcessState; ps != nil {
		msg = fmt.Sprintf("exited early (%s)", ps.String())
	}
	if e := p.stderr.String(); e != "" {
		msg += ": " + firstLine(e)
	}
	return msg
}

// waitForChild polls until the init has a descendant running comm, and
// remembers it so stop() can kill it even after the init is gone.
func (p *proc) waitForChild(ctx context.Context, comm string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		for _, d := range descendants(p.pid()) {
			if procComm(d) == comm {
				p.remember(d)
				return nil
			}
		}
		if p.exited() {
			return errors.New(p.exitNote())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s child after %s", comm, timeout)
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// child returns the first descendant found by waitForChild, or 0.
func (p *proc) child() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.known) == 0 {
		return 0
	}
	return p.known[0]
}

func (p *proc) remember(pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.known = append(p.known, pid)
}

// stop kills the init and everything below it. Descendants are collected
// before the init dies, because afterwards they are reparented and can no
// longer be found through /proc/PID/task/*/children; dumb-init puts its child
// in a new session, so killing the init alone would leak the child.
func (p *proc) stop() {
	if !p.exited() {
		for _, d := range descendants(p.pid()) {
			p.remember(d)
		}
		_ = p.cmd.Process.Kill() // the reaper goroutine collects it
	}
	p.mu.Lock()
	for _, d := range p.known {
		_ = syscall.Kill(d, syscall.SIGKILL) // may already be gone
	}
	p.mu.Unlock()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// descendants returns every process below pid, children first.
func descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		kids := children(queue[0])
		queue = append(queue[1:], kids...)
		out = append(out, kids...)
	}
	return out
}

// children lists the direct children of pid across all of its threads.
func children(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread or process went away: nothing to list
		}
		for _, field := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(field); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func procComm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procStatus parses /proc/PID/status (or a task's status file) into a map.
func procStatus(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return m, nil
}

// statusInt reads a numeric field such as "VmRSS: 1234 kB".
func statusInt(m map[string]string, key string) (int64, error) {
	v, ok := m[key]
	if !ok {
		return 0, fmt.Errorf("no %s field", key)
	}
	n, err := strconv.ParseInt(strings.Fields(v + " 0")[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s %q: %w", key, v, err)
	}
	return n, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
