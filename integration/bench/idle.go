package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// idleRow is one line of the idle RSS and idle wakeups tables.
type idleRow struct {
	s       subject
	label   string
	withRef bool // hush supervising with one file reference resolved
	note    string
	rssKiB  int64
	threads int64
	ctxSw   uint64        // context switches of the init during the window
	window  time.Duration // how long the window really lasted
}

// perMinute scales the context switches counted in the window to a minute.
func (r idleRow) perMinute() float64 {
	if r.window <= 0 {
		return 0
	}
	return float64(r.ctxSw) * float64(time.Minute) / float64(r.window)
}

// settleTime lets every init finish its start-up work (Go's runtime, for
// one, frees start-up garbage and parks its threads in the first moments)
// before memory is read and wakeups are counted.
const settleTime = time.Second

// measureIdle starts every subject supervising `sleep 1000` at the same
// time, reads each init's RSS and thread count once it has settled, then
// counts its context switches over one shared window. Running them all
// concurrently keeps the total at one window instead of one per binary, and
// an idle init competes for nothing, so the concurrency cannot change what
// is counted. Each hush build is also run with one file reference, because
// the RSS and wakeup budgets are stated for a hush that holds secrets.
func measureIdle(ctx context.Context, subjects []subject, window time.Duration, progress func(string)) ([]idleRow, error) {
	sleepPath, err := resolveTool("sleep")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hush-bench-idle-")
	if err != nil {
		return nil, fmt.Errorf("idle secret dir: %w", err)
	}
	defer os.RemoveAll(dir)
	secret := filepath.Join(dir, "idle-secret")
	if err := os.WriteFile(secret, []byte("idle-secret\n"), 0o600); err != nil {
		return nil, fmt.Errorf("idle secret: %w", err)
	}

	rows := idleRows(subjects)
	procs := make([]*proc, len(rows))
	defer func() {
		for _, p := range procs {
			if p != nil {
				p.stop()
			}
		}
	}()
	for i := range rows {
		procs[i] = startIdle(&rows[i], sleepPath, secret)
	}
	for i, p := range procs {
		if p == nil {
			continue
		}
		if err := p.waitForChild(ctx, "sleep", 10*time.Second); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			rows[i].note = err.Error()
			continue
		}
		if rows[i].withRef && !childHas(p, "IDLE_SECRET=idle-secret") {
			rows[i].note = "not supported by this build (the reference reached the child unresolved)"
		}
	}
	if err := sleepCtx(ctx, settleTime); err != nil {
		return nil, err
	}
	readMemory(rows, procs)
	progress(fmt.Sprintf("counting wakeups for %s", window))
	if err := countWakeups(ctx, rows, procs, window); err != nil {
		return nil, err
	}
	return rows, nil
}

// idleRows lists one row per subject, plus one per hush build with a file
// reference.
func idleRows(subjects []subject) []idleRow {
	var rows []idleRow
	for _, s := range subjects {
		rows = append(rows, idleRow{s: s, label: s.name, note: s.missing})
		if s.hush {
			rows = append(rows, idleRow{s: s, label: s.name + " + 1 file ref", withRef: true, note: s.missing})
		}
	}
	return rows
}

// startIdle starts the row's init supervising sleep; a failure to start is
// recorded as the row's note.
func startIdle(r *idleRow, sleepPath, secret string) *proc {
	if !r.s.present() {
		return nil
	}
	var extra []string
	if r.withRef {
		extra = []string{"IDLE_SECRET=ref+file://" + secret}
	}
	p, err := startProc(r.s.argv(sleepPath, "1000"), envFor(r.s, extra), nil)
	if err != nil {
		r.note = err.Error()
		return nil
	}
	return p
}

// healthy reports whether row i is still worth measuring.
func healthy(rows []idleRow, procs []*proc, i int) bool {
	return procs[i] != nil && rows[i].note == "" && !procs[i].exited()
}

func readMemory(rows []idleRow, procs []*proc) {
	for i := range rows {
		if !healthy(rows, procs, i) {
			continue
		}
		st, err := procStatus(fmt.Sprintf("/proc/%d/status", procs[i].pid()))
		if err == nil {
			rows[i].rssKiB, err = statusInt(st, "VmRSS")
		}
		if err == nil {
			rows[i].threads, err = statusInt(st, "Threads")
		}
		if err != nil {
			rows[i].note = err.Error()
		}
	}
}

// countWakeups counts each init's context switches over the window. Every
// wakeup of a sleeping thread is one voluntary switch when it sleeps again,
// so the sum over all of the init's threads is the number a laptop's
// powertop or a node's CPU-idle governor would see.
func countWakeups(ctx context.Context, rows []idleRow, procs []*proc, window time.Duration) error {
	before := make([]uint64, len(rows))
	for i := range rows {
		if healthy(rows, procs, i) {
			before[i], _ = ctxSwitches(procs[i].pid())
		}
	}
	start := time.Now()
	if err := sleepCtx(ctx, window); err != nil {
		return err
	}
	elapsed := time.Since(start)
	for i := range rows {
		if !healthy(rows, procs, i) {
			if procs[i] != nil && rows[i].note == "" {
				rows[i].note = procs[i].exitNote()
			}
			continue
		}
		after, err := ctxSwitches(procs[i].pid())
		if err != nil {
			rows[i].note = err.Error()
			continue
		}
		rows[i].ctxSw, rows[i].window = after-before[i], elapsed
	}
	return nil
}

// childHas reports whether the supervised child's environment holds the
// exact entry kv, i.e. whether hush really resolved the reference.
func childHas(p *proc, kv string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.child()))
	if err != nil {
		return false
	}
	for _, e := range bytes.Split(b, []byte{0}) {
		if string(e) == kv {
			return true
		}
	}
	return false
}

// ctxSwitches sums voluntary and involuntary context switches over every
// thread of pid; /proc/PID/status alone only counts the main thread, and a
// Go program's timers and sysmon run on others.
func ctxSwitches(pid int) (uint64, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("no tasks for pid %d", pid)
	}
	var total uint64
	for _, f := range files {
		st, err := procStatus(f)
		if err != nil {
			continue // the thread exited between the glob and the read
		}
		for _, k := range []string{"voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"} {
			n, err := statusInt(st, k)
			if err != nil {
				return 0, fmt.Errorf("pid %d: %w", pid, err)
			}
			total += uint64(n)
		}
	}
	return total, nil
}
