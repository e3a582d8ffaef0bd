package integration

import (
	"strconv"
	"strings"
	"testing"
)

// TestChildSession pins a decision (issue 15 item 12, docs/process.md): the
// child runs in its own process group but in hush's session, unlike
// dumb-init's setsid. hush must keep the session's terminal to hand its
// foreground to every generation of a restarted child.
func TestChildSession(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		// The shell prints hush's stat line, then becomes cat and prints
		// its own: cat is hush's child itself.
		r := start(t, m, "--", "sh", "-c", `cat /proc/$PPID/stat; exec cat /proc/self/stat`)
		r.expectExit(0)
		lines := strings.Split(strings.TrimSpace(r.stdout.all(t)), "\n")
		if len(lines) != 2 {
			t.Fatalf("want two stat lines, got:\n%s", r.stdout)
		}
		hush, child := statFields(t, lines[0]), statFields(t, lines[1])
		if child.session != hush.session {
			t.Errorf("child session %d, hush's %d: want the same session", child.session, hush.session)
		}
		if child.pgrp != child.pid || child.pgrp == hush.pgrp {
			t.Errorf("child pid %d in group %d, hush in %d: want the child leading its own group", child.pid, child.pgrp, hush.pgrp)
		}
		if child.ppid != hush.pid {
			t.Errorf("cat's parent is %d, not hush (%d)", child.ppid, hush.pid)
		}
	})
}

type statLine struct{ pid, ppid, pgrp, session int }

// statFields parses /proc/PID/stat: the command name is in parentheses and
// may hold spaces, so fields are counted after the last ')'.
func statFields(t *testing.T, line string) statLine {
	t.Helper()
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		t.Fatalf("not a stat line: %q", line)
	}
	f := strings.Fields(line[end+1:]) // state ppid pgrp session ...
	if len(f) < 4 {
		t.Fatalf("short stat line: %q", line)
	}
	return statLine{
		pid:     atoi(t, strings.TrimSpace(line[:open])),
		ppid:    atoi(t, f[1]),
		pgrp:    atoi(t, f[2]),
		session: atoi(t, f[3]),
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
