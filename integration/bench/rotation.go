package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rotchildArg is argv[1] that turns this program into the rotation child.
const rotchildArg = "rotchild"

// rotEnvVar is the variable that carries the rotated secret.
const rotEnvVar = "S"

// rotchild is the supervised child of the rotation benchmark. It reads
// CLOCK_MONOTONIC before anything else, so that the figure covers hush's
// whole restart up to the new program running, then prints
// "start <ns> <$S>". On SIGTERM it prints "stop-begin <ns>" and
// "stop-end <ns>" and exits at once: that stop time is the part the budget
// leaves out, and a real program's would be longer.
func rotchild() int {
	started, err := monotonicNow()
	if err != nil {
		return 1
	}
	// The handler is in place before "start" is printed, and the benchmark
	// changes the secret only after reading that line, so SIGTERM never
	// meets the default action that would kill the child without a trace.
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	if _, err := fmt.Fprintf(os.Stdout, "start %d %s\n", started, os.Getenv(rotEnvVar)); err != nil {
		return 1
	}
	idle := time.NewTimer(sigechoIdleExit) // a forgotten child must not linger
	select {
	case <-ch:
	case <-idle.C:
		return 0
	}
	begin, err := monotonicNow()
	if err != nil {
		return 1
	}
	if _, err := fmt.Fprintf(os.Stdout, "stop-begin %d\n", begin); err != nil {
		return 1
	}
	end, err := monotonicNow()
	if err != nil {
		return 1
	}
	if _, err := fmt.Fprintf(os.Stdout, "stop-end %d\n", end); err != nil {
		return 1
	}
	return 0
}

// rotLine is one line the rotation child prints.
type rotLine struct {
	kind  string // "start", "stop-begin" or "stop-end"
	ns    int64  // CLOCK_MONOTONIC
	value string // $S, for "start" only
}

// parseRotLine reads one line of rotchild's output.
func parseRotLine(line string) (rotLine, error) {
	f := strings.SplitN(line, " ", 3)
	if len(f) < 2 {
		return rotLine{}, fmt.Errorf("rotation child wrote %q", line)
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return rotLine{}, fmt.Errorf("rotation child wrote %q: %w", line, err)
	}
	l := rotLine{kind: f[0], ns: ns}
	switch {
	case l.kind == "start":
		if len(f) == 3 { // an empty value leaves no third field
			l.value = f[2]
		}
	case (l.kind == "stop-begin" || l.kind == "stop-end") && len(f) == 2:
	default:
		return rotLine{}, fmt.Errorf("rotation child wrote %q", line)
	}
	return l, nil
}

// rotSample is one rotation's CLOCK_MONOTONIC timestamps (ns), taken in
// three processes that share the clock.
type rotSample struct {
	change    int64 // benchmark, just before the change's first file-system call
	stopBegin int64 // old child, first thing in its SIGTERM handler
	stopEnd   int64 // old child, just before it exits
	start     int64 // new child, first thing in main
}

// latency is what the budget limits: change to new child running, minus
// the debounce window and the old child's own stop time. It is the sum of
// toStop and toStart.
func (s rotSample) latency(debounce time.Duration) time.Duration {
	return time.Duration(s.start-s.change) - debounce - s.stopTime()
}

// toStop is hush noticing the change, re-reading the file and signalling,
// up to the old child's handler running, beyond the debounce window.
func (s rotSample) toStop(debounce time.Duration) time.Duration {
	return time.Duration(s.stopBegin-s.change) - debounce
}

// toStart is the old child's exit, hush reaping it, fork and exec of the
// new one and that program's runtime start, up to its main.
func (s rotSample) toStart() time.Duration { return time.Duration(s.start - s.stopEnd) }

func (s rotSample) stopTime() time.Duration { return time.Duration(s.stopEnd - s.stopBegin) }

// changeKind is how the benchmark replaces the secret file.
type changeKind int

const (
	writeInPlace changeKind = iota // one write(2) over the same inode, as on a bind-mounted file
	renameOver                     // a new file renamed over the old: editors, `mv`
	kubeSwap                       // the kubelet's ..data symlink swap
)

func (k changeKind) String() string {
	switch k {
	case writeInPlace:
		return "in-place write"
	case renameOver:
		return "rename over the file"
	case kubeSwap:
		return "Kubernetes ..data swap"
	}
	return "unknown"
}

// rotScenario is one way of rotating, measured for each hush build.
type rotScenario struct {
	change   changeKind
	debounce time.Duration
}

// rotScenarios: a debounce of 1ms leaves almost nothing but hush's own
// work in the figure; 100ms shows the window is waited out and no longer.
// The renames are the Kubernetes-like path, at the short window only.
var rotScenarios = []rotScenario{
	{writeInPlace, time.Millisecond},
	{writeInPlace, 100 * time.Millisecond},
	{renameOver, time.Millisecond},
	{kubeSwap, time.Millisecond},
}

const (
	rotationWarmup = 3 // the first restarts touch cold code and pages
	rotTimeout     = 10 * time.Second
	rotSpacing     = 10 * time.Millisecond
	rotSecretName  = "s"
)

// secretValue is the n-th value. The width is fixed so that an in-place
// write covers every old byte without truncating: a truncation is a change
// of its own (to the empty value) that hush could act on.
func secretValue(n int) string { return fmt.Sprintf("v%06d", n) }

// setupSecret writes the first value in the layout kind changes and
// returns the path the reference names.
func setupSecret(dir string, kind changeKind, value string) (string, error) {
	path := filepath.Join(dir, rotSecretName)
	if kind != kubeSwap {
		return path, writeSecret(path, value)
	}
	if err := writeVersion(dir, value); err != nil {
		return "", err
	}
	if err := os.Symlink(versionDir(value), filepath.Join(dir, "..data")); err != nil {
		return "", fmt.Errorf("link ..data: %w", err)
	}
	if err := os.Symlink(filepath.Join("..data", rotSecretName), path); err != nil {
		return "", fmt.Errorf("link secret: %w", err)
	}
	return path, nil
}

// changeSecret replaces the value old with value the way kind does.
func changeSecret(dir string, kind changeKind, old, value string) error {
	path := filepath.Join(dir, rotSecretName)
	switch kind {
	case writeInPlace:
		return overwrite(path, value)
	case renameOver:
		tmp := path + ".new"
		if err := writeSecret(tmp, value); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("rename secret: %w", err)
		}
		return nil
	case kubeSwap:
		return swapData(dir, old, value)
	}
	return fmt.Errorf("unknown change kind %d", kind)
}

// swapData does what the kubelet's AtomicWriter does: the new content in a
// new ..VERSION directory, a ..data_tmp symlink to it renamed over ..data,
// then the old directory removed.
func swapData(dir, old, value string) error {
	if err := writeVersion(dir, value); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(versionDir(value), tmp); err != nil {
		return fmt.Errorf("link ..data_tmp: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		return fmt.Errorf("swap ..data: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(dir, versionDir(old))); err != nil {
		return fmt.Errorf("remove old version: %w", err)
	}
	return nil
}

// versionDir names the kubelet-style directory holding one version.
func versionDir(value string) string { return ".." + value }

func writeVersion(dir, value string) error {
	d := filepath.Join(dir, versionDir(value))
	if err := os.Mkdir(d, 0o700); err != nil {
		return fmt.Errorf("version dir: %w", err)
	}
	return writeSecret(filepath.Join(d, rotSecretName), value)
}

func writeSecret(path, value string) error {
	if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
		return fmt.Errorf("write secret: %w", err)
	}
	return nil
}

// overwrite writes value over the start of the file in one write(2),
// without O_TRUNC (see secretValue).
func overwrite(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open secret: %w", err)
	}
	if _, err := f.WriteAt([]byte(value), 0); err != nil {
		f.Close()
		return fmt.Errorf("write secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write secret: %w", err)
	}
	return nil
}

// rotRow is one line of the rotation table: one hush build, one scenario.
type rotRow struct {
	s       subject
	sc      rotScenario
	note    string
	samples []rotSample
}

// rotResult is the rotation phase: its rows and the load it ran under.
type rotResult struct {
	rows []rotRow
	load string
}

// rotTarget is one running hush with its rotation child and secret.
type rotTarget struct {
	row *rotRow
	*lineProc
	dir   string
	value string // what the running child got
	n     int
}

// rotationSubject reports whether s takes part: the full build and the
// files flavour, the two DESIGN.md gives file-reference budgets for.
func rotationSubject(s subject) bool {
	return s.hush && (s.flavour == "" || s.flavour == "files")
}

// measureRotation starts every hush build once per scenario, each
// supervising the rotation child, then rotates them in turn, round-robin
// like the signal benchmark, so that load drift hits every row alike.
func measureRotation(ctx context.Context, subjects []subject, self string, n int, progress func(string)) (rotResult, error) {
	res := rotResult{load: loadAvg()}
	var targets []*rotTarget
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	for _, s := range subjects {
		if !rotationSubject(s) {
			continue
		}
		for _, sc := range rotScenarios {
			res.rows = append(res.rows, rotRow{s: s, sc: sc, note: s.missing})
		}
	}
	for i := range res.rows {
		row := &res.rows[i]
		if row.note != "" {
			continue
		}
		t, err := startRotation(ctx, row, self)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if err != nil {
			row.note = err.Error()
			continue
		}
		targets = append(targets, t)
	}
	for round := range rotationWarmup + n {
		for _, t := range targets {
			if t.row.note != "" {
				continue
			}
			s, err := t.rotate(ctx)
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if err != nil {
				t.row.note = err.Error()
				continue
			}
			if round >= rotationWarmup {
				t.row.samples = append(t.row.samples, s)
			}
		}
		if err := sleepCtx(ctx, rotSpacing); err != nil {
			return res, err
		}
		if (round+1)%max(1, (rotationWarmup+n)/5) == 0 {
			progress(fmt.Sprintf("%d/%d rotations", round+1, rotationWarmup+n))
		}
	}
	return res, nil
}

// startRotation writes the first secret, starts
// `hush --debounce D -- <this program> rotchild` with S referencing it, and
// waits for the first child.
func startRotation(ctx context.Context, row *rotRow, self string) (*rotTarget, error) {
	dir, err := os.MkdirTemp("", "hush-bench-rotation-")
	if err != nil {
		return nil, fmt.Errorf("secret dir: %w", err)
	}
	t := &rotTarget{row: row, dir: dir, value: secretValue(0)}
	ref, err := setupSecret(dir, row.sc.change, t.value)
	if err != nil {
		t.close()
		return nil, err
	}
	argv := []string{row.s.path, "--debounce", row.sc.debounce.String(), "--", self, rotchildArg}
	if t.lineProc, err = startLines(argv, envFor(row.s, []string{rotEnvVar + "=ref+file://" + ref})); err != nil {
		t.close()
		return nil, err
	}
	if _, err := t.awaitStart(ctx, t.value, rotTimeout); err != nil {
		t.close()
		return nil, fmt.Errorf("first child: %w", err)
	}
	return t, nil
}

// rotate changes the secret once and waits for the child that has the new
// value.
func (t *rotTarget) rotate(ctx context.Context) (rotSample, error) {
	t.n++
	value := secretValue(t.n)
	change, err := monotonicNow()
	if err != nil {
		return rotSample{}, err
	}
	if err := changeSecret(t.dir, t.row.sc.change, t.value, value); err != nil {
		return rotSample{}, err
	}
	s, err := t.awaitStart(ctx, value, t.row.sc.debounce+rotTimeout)
	if err != nil {
		return rotSample{}, fmt.Errorf("rotation %d: %w", t.n, err)
	}
	if s.stopBegin == 0 || s.stopEnd == 0 {
		return rotSample{}, fmt.Errorf("rotation %d: a new child started but the old one never reported its stop", t.n)
	}
	s.change, t.value = change, value
	return s, nil
}

// awaitStart reads the child's lines until a child starts with want,
// keeping the old child's stop timestamps on the way. A start with any
// other value is an extra restart and spoils the sample.
func (t *rotTarget) awaitStart(ctx context.Context, want string, timeout time.Duration) (rotSample, error) {
	deadline := time.Now().Add(timeout)
	var s rotSample
	for {
		line, err := t.next(ctx, max(time.Until(deadline), time.Millisecond))
		if errors.Is(err, errSilent) {
			return s, fmt.Errorf("no child with the new value: %w (hush did not restart)", err)
		}
		if err != nil {
			return s, err
		}
		l, err := parseRotLine(line)
		if err != nil {
			return s, err
		}
		switch l.kind {
		case "stop-begin":
			s.stopBegin = l.ns
		case "stop-end":
			s.stopEnd = l.ns
		case "start":
			if l.value != want {
				return s, fmt.Errorf("a child started with %q while %q was awaited", l.value, want)
			}
			s.start = l.ns
			return s, nil
		}
	}
}

func (t *rotTarget) close() {
	if t.lineProc != nil {
		t.p.stop()
	}
	os.RemoveAll(t.dir)
}
