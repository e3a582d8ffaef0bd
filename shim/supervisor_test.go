package shim

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKillTimerAfterExit: the stop timer fires while the stopped child has
// already exited but its SIGCHLD is not handled yet. The exit wins: no
// "did not stop in time", no SIGKILL, and the status recorded is the
// child's own (issue 15 item 10). Real processes: like TestReaper, it must
// not run alongside other tests that fork.
func TestKillTimerAfterExit(t *testing.T) {
	sh, err := lookPath("sh", "")
	if err != nil {
		t.Skipf("no sh: %v", err)
	}
	var logs bytes.Buffer
	trapped := filepath.Join(t.TempDir(), "trapped")
	s := New(Config{
		Argv:   []string{sh, "-c", "trap 'exit 0' TERM; touch " + trapped + "; while :; do sleep 0.01; done"},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, &Signals{C: make(chan os.Signal)})
	if err := s.m.startFirst([]string{"PATH=/usr/bin:/bin"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range s.procs {
			p.leader.Kill()
		}
		time.Sleep(50 * time.Millisecond)
		reap()
	})
	first := s.procs[1].pid
	// The restart's SIGTERM must find the trap in place.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(trapped); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never installed its trap")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.m.request(Request{Kind: Restart, Env: []string{"PATH=/usr/bin:/bin"}, Reason: "S"})
	deadline = time.Now().Add(30 * time.Second)
	for {
		if p, ok := readStat(first); ok && p.state == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child did not exit on SIGTERM; logs:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Its SIGCHLD is "still in the channel": the timer comes first.
	s.onTimer(timerEvent{gen: 1, kind: timerKill})
	out := logs.String()
	if strings.Contains(out, "did not stop in time") {
		t.Errorf("a child that exited in time was reported late:\n%s", out)
	}
	if !strings.Contains(out, "old_status=0") {
		t.Errorf("want the restart logged with the child's own status 0:\n%s", out)
	}
	if _, ok := s.procs[2]; !ok {
		t.Errorf("no new generation started:\n%s", out)
	}
}
