package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ttyRun is hush started on a pseudo-terminal, as `docker run -it` does:
// hush's session owns the terminal and its process group is the
// foreground one.
type ttyRun struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
	status int
}

func startOnTTY(t *testing.T, m mode, args ...string) *ttyRun {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	defer slave.Close()
	argv := m.argv(args...)
	r := &ttyRun{t: t, master: master, done: make(chan struct{})}
	r.cmd = exec.Command(argv[0], argv[1:]...)
	r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = slave, slave, slave
	// A new session whose controlling terminal is the pty: the session's
	// process group is then the terminal's foreground group.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start %q: %v", argv, err)
	}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			r.mu.Lock()
			r.out.Write(b[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		state, _ := r.cmd.Process.Wait()
		r.status = state.Sys().(syscall.WaitStatus).ExitStatus()
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	})
	return r
}

func (r *ttyRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

func (r *ttyRun) waitOutput(s string) {
	r.t.Helper()
	eventually(r.t, fmt.Sprintf("%q on the terminal", s), func() bool { return strings.Contains(r.output(), s) })
}

func (r *ttyRun) typeIn(s string) {
	r.t.Helper()
	if _, err := r.master.WriteString(s); err != nil {
		r.t.Fatal(err)
	}
}

func (r *ttyRun) expectExit(want int) {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(patience):
		r.t.Fatalf("hush did not exit; terminal:\n%s", r.output())
	}
	if r.status != want {
		r.t.Errorf("hush exit status = %d, want %d; terminal:\n%s", r.status, want, r.output())
	}
}

// TestTerminal: with a terminal on stdin that hush's group owns, the child's
// group becomes the foreground group, so an interactive shell works and
// Ctrl-C reaches the child straight from the terminal (tini T15, dumb-init
// D10).
func TestTerminal(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		t.Run("child owns the foreground", func(t *testing.T) {
			// Fields 5 and 8 of /proc/self/stat: the process group and
			// the terminal's foreground process group.
			r := startOnTTY(t, m, "--", "sh", "-c", `set -- $(sed 's/^.*) //' /proc/self/stat); echo "pgrp=$3 tpgid=$6"`)
			r.expectExit(0)
			// The terminal may hand over the output after the exit.
			eventually(t, "the whole line on the terminal", func() bool {
				_, rest, ok := strings.Cut(r.output(), "tpgid=")
				return ok && strings.Contains(rest, "\n")
			})
			out := r.output()
			var pgrp, tpgid int
			if _, err := fmt.Sscanf(out[strings.Index(out, "pgrp="):], "pgrp=%d tpgid=%d", &pgrp, &tpgid); err != nil {
				t.Fatalf("terminal output %q: %v", r.output(), err)
			}
			if pgrp != tpgid || pgrp <= 0 {
				t.Errorf("child's process group %d, terminal's foreground group %d: want the same", pgrp, tpgid)
			}
		})
		t.Run("interactive shell", func(t *testing.T) {
			r := startOnTTY(t, m, "--", "sh", "-i")
			r.typeIn("echo shell-$((6*7))\n")
			r.waitOutput("shell-42")
			r.typeIn("exit 3\n")
			r.expectExit(3)
		})
		t.Run("Ctrl-C", func(t *testing.T) {
			r := startOnTTY(t, m, "--", "sh", "-c", "echo looping; while :; do sleep 0.05; done")
			r.waitOutput("looping")
			r.typeIn("\x03")
			r.expectExit(128 + int(syscall.SIGINT))
		})
	})
}
