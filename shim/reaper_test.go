package shim

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	// Linux wait status encoding: exit N is N<<8; death by signal N is N
	// (0x80 added when a core was dumped).
	tests := []struct {
		name   string
		status unix.WaitStatus
		want   int
	}{
		{"exit 0", 0, 0},
		{"exit 3", 3 << 8, 3},
		{"exit 125", 125 << 8, 125},
		{"exit 255", 255 << 8, 255},
		{"SIGKILL", unix.WaitStatus(syscall.SIGKILL), 137},
		{"SIGTERM", unix.WaitStatus(syscall.SIGTERM), 143},
		{"SIGHUP", unix.WaitStatus(syscall.SIGHUP), 129},
		{"SIGSEGV with core", unix.WaitStatus(syscall.SIGSEGV) | 0x80, 139},
		{"SIGRTMIN+1", 35, 163},
	}
	for _, tt := range tests {
		if got := (Exit{Pid: 1, Status: tt.status}).Code(); got != tt.want {
			t.Errorf("%s: Exit{Status: %#x}.Code() = %d, want %d", tt.name, uint32(tt.status), got, tt.want)
		}
	}
}

// TestReaper forks real children. reap() collects ANY child of the test
// process, so this test must not run alongside others that fork: it is not
// parallel, and Go never runs a sequential top-level test together with
// parallel ones. No other test in this package forks.
func TestReaper(t *testing.T) {
	sh, err := lookPath("sh", "")
	if err != nil {
		t.Skipf("no sh: %v", err)
	}
	// Leave nothing behind whatever happens.
	t.Cleanup(func() { reap() })

	// waitExit polls reap() until pid has been collected.
	waitExit := func(t *testing.T, pid int) Exit {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			for _, e := range reap() {
				if e.Pid == pid {
					return e
				}
				t.Errorf("reaped unexpected pid %d", e.Pid)
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatalf("pid %d was not reaped within the deadline", pid)
		return Exit{}
	}
	startSh := func(t *testing.T, script string, files ...*os.File) *os.Process {
		t.Helper()
		p, err := os.StartProcess(sh, []string{"sh", "-c", script}, &os.ProcAttr{Files: files})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Release() })
		return p
	}

	t.Run("no children", func(t *testing.T) {
		if exits := reap(); len(exits) != 0 {
			t.Fatalf("reap() with no children = %v", exits)
		}
	})

	t.Run("exit status", func(t *testing.T) {
		p := startSh(t, "exit 3")
		e := waitExit(t, p.Pid)
		if e.Code() != 3 {
			t.Errorf("child exited with status %#x, Code() = %d, want 3", uint32(e.Status), e.Code())
		}
	})

	t.Run("death by signal", func(t *testing.T) {
		p := startSh(t, "kill -TERM $$")
		e := waitExit(t, p.Pid)
		if !e.Status.Signaled() || e.Code() != 128+int(syscall.SIGTERM) {
			t.Errorf("child status %#x, Code() = %d, want 143", uint32(e.Status), e.Code())
		}
	})

	t.Run("running child is not reaped", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		p := startSh(t, "read x; exit 7", r)
		r.Close()
		for _, e := range reap() {
			t.Errorf("reap() collected pid %d while the child blocks on its stdin", e.Pid)
		}
		w.Close() // EOF: the child exits
		if e := waitExit(t, p.Pid); e.Code() != 7 {
			t.Errorf("Code() = %d, want 7", e.Code())
		}
	})

	t.Run("several children", func(t *testing.T) {
		want := map[int]int{}
		for _, code := range []int{0, 1, 42} {
			p := startSh(t, "exit "+strconv.Itoa(code))
			want[p.Pid] = code
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(want) > 0 && time.Now().Before(deadline) {
			for _, e := range reap() {
				code, ok := want[e.Pid]
				if !ok {
					t.Errorf("reaped unexpected pid %d", e.Pid)
					continue
				}
				if e.Code() != code {
					t.Errorf("pid %d: Code() = %d, want %d", e.Pid, e.Code(), code)
				}
				delete(want, e.Pid)
			}
			time.Sleep(2 * time.Millisecond)
		}
		if len(want) > 0 {
			t.Fatalf("not reaped within the deadline: %v", want)
		}
	})
}
