package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// hush reaps every orphan re-parented to it, as PID 1 and as a subreaper
// (tini T8, dumb-init D13): the child double-forks 100 grandchildren,
// which must show up as hush's children (so hush is their reaper); once
// released they exit together, and eventually hush's only child is the
// main one again, with no zombie left.
func TestReapOrphans(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		const n = 100
		r := start(t, m, "--", probeBin, "orphans", strconv.Itoa(n))
		r.waitStdout(fmt.Sprintf("orphaned %d", n))
		main := r.child("probe")
		r.eventually(fmt.Sprintf("%d orphans re-parented to hush", n), func() bool {
			cats := 0
			for _, c := range children(r.hushPid()) {
				if procComm(c) == "cat" {
					cats++
				}
			}
			return cats == n
		})
		// Straight to the main child, not through hush.
		if err := unix.Kill(main, unix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		r.waitStdout("released")
		var left []string
		r.eventually("hush to reap every orphan", func() bool {
			left = left[:0]
			for _, c := range children(r.hushPid()) {
				if c == main {
					continue
				}
				if state, _, ok := procStat(c); ok {
					left = append(left, fmt.Sprintf("%d(%s,%c)", c, procComm(c), state))
				}
			}
			return len(left) == 0
		})
		if !alive(main) {
			t.Fatalf("main child %d died", main)
		}
		r.signal(unix.SIGTERM)
		r.expectExit(0)
		if !hasLine(r.stdout.all(t), "bye") {
			t.Errorf("main child did not see SIGTERM")
		}
	})
}

// The main child exits at the moment 200 other children of hush die, so
// their SIGCHLDs coalesce into one; hush must still find and return the
// main child's own status (catatonit e4c14f5). 100 rounds, each with a
// different status.
func TestExitStatusAmidOrphanDeaths(t *testing.T) {
	t.Parallel()
	rounds := stressRounds(100, 10)
	inModes(t, func(t *testing.T, m mode) {
		var wrong []string
		for i := range rounds {
			code := 1 + i%250
			if got := run(t, m, "--", probeBin, "coalesce", "200", strconv.Itoa(code)); got != code {
				wrong = append(wrong, fmt.Sprintf("round %d: %d, want %d", i, got, code))
			}
		}
		if len(wrong) > 0 {
			t.Errorf("hush returned the wrong status in %d of %d rounds:\n%s", len(wrong), rounds, strings.Join(wrong, "\n"))
		}
	})
}
