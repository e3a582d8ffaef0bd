package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sigechoArg is argv[1] that turns this program into the signal echo child.
const sigechoArg = "sigecho"

// sigechoIdleExit ends a forgotten echo child: if the benchmark dies
// without killing it, it must not linger on a shared machine.
const sigechoIdleExit = 2 * time.Minute

// monotonicNow reads CLOCK_MONOTONIC, the clock both the benchmark and the
// echo child share, so a timestamp taken in one process can be subtracted
// from one taken in the other.
func monotonicNow() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("clock_gettime: %w", err)
	}
	return ts.Nano(), nil
}

// sigecho is the supervised child of the signal benchmark: it prints
// "ready" once its SIGUSR1 handler is installed, then one CLOCK_MONOTONIC
// timestamp (ns) per SIGUSR1 it receives. The timestamp is taken first
// thing on delivery, so its Go start-up cost never enters the figure.
func sigecho() int {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	if _, err := fmt.Fprintln(os.Stdout, "ready"); err != nil {
		return 1
	}
	idle := time.NewTimer(sigechoIdleExit)
	for {
		select {
		case <-ch:
			ts, err := monotonicNow()
			if err != nil {
				return 1
			}
			if _, err := fmt.Fprintf(os.Stdout, "%d\n", ts); err != nil {
				return 1 // the benchmark is gone
			}
			idle.Reset(sigechoIdleExit)
		case <-idle.C:
			return 0
		}
	}
}

// sigRow is one line of the signal-forwarding table.
type sigRow struct {
	s    subject
	note string
	lat  []time.Duration
}

// echoTarget is one running init with its echo child.
type echoTarget struct {
	row *sigRow
	*lineProc
}

const (
	signalWarmup  = 10 // first signals touch cold code paths and are dropped
	echoTimeout   = 2 * time.Second
	signalSpacing = time.Millisecond
)

// measureSignals starts every subject supervising the echo child, then sends
// SIGUSR1 to each init in turn, round-robin like the start-up runs, and
// records how long the signal took to reach the child's handler.
func measureSignals(ctx context.Context, subjects []subject, self string, n int, progress func(string)) ([]sigRow, error) {
	rows := make([]sigRow, len(subjects))
	var targets []*echoTarget
	defer func() {
		for _, t := range targets {
			t.p.stop()
		}
	}()
	for i, s := range subjects {
		rows[i] = sigRow{s: s, note: s.missing}
		if !s.present() {
			continue
		}
		t, err := startEcho(ctx, &rows[i], self)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			rows[i].note = err.Error()
			continue
		}
		targets = append(targets, t)
	}
	for round := range signalWarmup + n {
		for _, t := range targets {
			if t.row.note != "" {
				continue
			}
			lat, err := t.ping(ctx)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				t.row.note = err.Error()
				continue
			}
			if round >= signalWarmup {
				t.row.lat = append(t.row.lat, lat)
			}
		}
		if err := sleepCtx(ctx, signalSpacing); err != nil {
			return nil, err
		}
		if (round+1)%max(1, (signalWarmup+n)/5) == 0 {
			progress(fmt.Sprintf("%d/%d signals", round+1, signalWarmup+n))
		}
	}
	return rows, nil
}

// startEcho starts `X -- <this program> sigecho` with a pipe on its stdout
// and waits for the child's "ready" line.
func startEcho(ctx context.Context, row *sigRow, self string) (*echoTarget, error) {
	lp, err := startLines(row.s.argv(self, sigechoArg), envFor(row.s, nil))
	if err != nil {
		return nil, err
	}
	t := &echoTarget{row: row, lineProc: lp}
	line, err := t.next(ctx, 10*time.Second)
	if err != nil {
		t.p.stop()
		return nil, fmt.Errorf("echo child not ready: %w", err)
	}
	if line != "ready" {
		t.p.stop()
		return nil, fmt.Errorf("echo child said %q", line)
	}
	return t, nil
}

// lineProc is a running init whose child's stdout the benchmark reads line
// by line; the children that print are this program in a child role.
type lineProc struct {
	p     *proc
	lines chan string
}

// errSilent is what next returns when the child printed nothing in time.
var errSilent = errors.New("no output")

// startLines starts argv with a pipe on its stdout, read by a goroutine so
// that a child printing faster than the benchmark reads never blocks.
func startLines(argv, env []string) (*lineProc, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	p, err := startProc(argv, env, w)
	w.Close() // the child holds its own copy; ours would hide EOF
	if err != nil {
		r.Close()
		return nil, err
	}
	lp := &lineProc{p: p, lines: make(chan string, 16)}
	go func() {
		defer r.Close()
		defer close(lp.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lp.lines <- sc.Text()
		}
	}()
	return lp, nil
}

// next returns the child's next line, or an error on timeout or EOF.
func (lp *lineProc) next(ctx context.Context, timeout time.Duration) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case line, ok := <-lp.lines:
		if !ok {
			if lp.p.exited() {
				return "", errors.New(lp.p.exitNote())
			}
			return "", errors.New("child closed its output")
		}
		return line, nil
	case <-timer.C:
		return "", fmt.Errorf("%w within %s", errSilent, timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// ping sends one SIGUSR1 to the init and returns the time until the child's
// handler ran.
func (t *echoTarget) ping(ctx context.Context) (time.Duration, error) {
	sent, err := monotonicNow()
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(t.p.pid(), syscall.SIGUSR1); err != nil {
		return 0, fmt.Errorf("send SIGUSR1: %w", err)
	}
	line, err := t.next(ctx, echoTimeout)
	if errors.Is(err, errSilent) {
		return 0, fmt.Errorf("%w (signal not forwarded?)", err)
	}
	if err != nil {
		return 0, err
	}
	got, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("echo child wrote %q: %w", line, err)
	}
	return time.Duration(got - sent), nil
}
