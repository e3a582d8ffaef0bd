// Command bench measures hush side by side with its peers (tini-static,
// tini, dumb-init, catatonit) in one run and writes docs/benchmarks.md.
// It is what `make bench` runs; it installs nothing and asserts nothing:
// the budgets in DESIGN.md are checked by reading its report.
//
//	go run ./integration/bench [-hush bin/hush] [-flavour files=bin/hush-files]...
//	                           [-runs 300] [-idle 30s] [-signals 200] [-rotations 50]
//	                           [-out docs/benchmarks.md] [-startup-only | -load-only]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// config is the parsed command line.
type config struct {
	hush      string
	flavours  flavourFlag
	runs      int
	idle      time.Duration
	signals   int
	rotations int
	// loadRotations is how many rotations each load scenario runs;
	// loadOnly skips every other phase (the report then holds only it).
	loadRotations int
	loadOnly      bool
	// startupOnly measures sizes, start-up cost and idle RSS and wakeups
	// only: the budgets that a change of size or package init moves.
	startupOnly bool
	refs        []int
	out         string
	wrapper     bool
}

// flavourFlag collects repeated -flavour NAME=PATH options in order.
type flavourFlag [][2]string

func (f *flavourFlag) String() string {
	var parts []string
	for _, kv := range *f {
		parts = append(parts, kv[0]+"="+kv[1])
	}
	return strings.Join(parts, ",")
}

func (f *flavourFlag) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || name == "" || path == "" {
		return fmt.Errorf("want NAME=PATH, got %q", v)
	}
	*f = append(*f, [2]string{name, path})
	return nil
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&c.hush, "hush", "bin/hush", "path of the full hush build")
	fs.Var(&c.flavours, "flavour", "extra hush build as NAME=PATH, e.g. files=bin/hush-files (repeatable)")
	fs.IntVar(&c.runs, "runs", 300, "start-up runs per binary")
	fs.DurationVar(&c.idle, "idle", 30*time.Second, "window over which idle wakeups are counted")
	fs.IntVar(&c.signals, "signals", 200, "signals per binary for the forwarding latency")
	fs.IntVar(&c.rotations, "rotations", 50, "secret rotations per hush build and scenario for the rotation latency")
	fs.IntVar(&c.loadRotations, "load-rotations", 5, "secret rotations per scenario for the rotation under load")
	fs.BoolVar(&c.loadOnly, "load-only", false, "measure only the rotation under load")
	fs.BoolVar(&c.startupOnly, "startup-only", false, "measure only sizes, start-up cost and idle RSS and wakeups")
	fs.StringVar(&c.out, "out", "docs/benchmarks.md", "markdown report to write")
	fs.BoolVar(&c.wrapper, "gowrapper", true, "also measure a bare Go os/exec wrapper, built with the local go toolchain")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.loadOnly && c.startupOnly {
		return c, errors.New("-load-only and -startup-only exclude each other")
	}
	if c.runs < 1 || c.signals < 1 || c.rotations < 1 || c.idle <= 0 {
		return c, errors.New("-runs, -signals, -rotations and -idle must be positive")
	}
	c.refs = []int{1, 100, 1000}
	return c, nil
}

func main() {
	// The child roles come first: rotchild's timestamp should be taken as
	// early in main as possible.
	if len(os.Args) > 1 && os.Args[1] == rotchildArg {
		os.Exit(rotchild())
	}
	if len(os.Args) > 1 && os.Args[1] == sigechoArg {
		os.Exit(sigecho())
	}
	if len(os.Args) > 1 && os.Args[1] == loadserverArg {
		os.Exit(loadserver())
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	// Ctrl-C cancels the context instead of killing the benchmark at once,
	// so every init and child it started is killed on the way out.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

// progressFunc returns a logger that prints one line to stderr, prefixed
// with the time since the start.
func progressFunc(start time.Time, phase string) func(string) {
	return func(msg string) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s: %s\n", time.Since(start).Seconds(), phase, msg)
	}
}

func run(ctx context.Context, cfg config) error {
	start := time.Now()
	say := progressFunc(start, "bench")
	r := &report{cfg: cfg, m: readMachine()}
	work, err := os.MkdirTemp("", "hush-bench-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	defer os.RemoveAll(work)
	var extra []subject
	if cfg.wrapper {
		say("building the Go os/exec wrapper for calibration")
		extra = append(extra, buildGoWrapper(ctx, work))
	}
	r.subjects, r.notes = collectSubjects(cfg, extra)
	for _, n := range r.notes {
		say(n)
	}
	truePath, err := resolveTool("/bin/true")
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary for the echo and rotation children: %w", err)
	}

	if cfg.loadOnly {
		return runLoadOnly(ctx, cfg, r, self, start)
	}
	say("binary sizes")
	r.sizes, r.sizeErrs = measureSizes(r.subjects)

	say(fmt.Sprintf("start-up cost, %d rounds", cfg.runs))
	if r.startup, err = measureStartup(ctx, r.subjects, truePath, cfg.runs, progressFunc(start, "start-up")); err != nil {
		return fmt.Errorf("start-up: %w", err)
	}
	say("idle RSS and wakeups")
	if r.idle, err = measureIdle(ctx, r.subjects, cfg.idle, progressFunc(start, "idle")); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if cfg.startupOnly {
		r.m.loadEnd = loadAvg()
		return writeReport(cfg.out, r.renderStartupOnly(), say)
	}
	say(fmt.Sprintf("signal forwarding, %d signals each", cfg.signals))
	if r.signals, err = measureSignals(ctx, r.subjects, self, cfg.signals, progressFunc(start, "signals")); err != nil {
		return fmt.Errorf("signals: %w", err)
	}
	say(fmt.Sprintf("resolver cost, %d rounds", cfg.runs))
	if r.resolver, err = measureResolver(ctx, r.subjects, truePath, cfg.refs, cfg.runs, progressFunc(start, "resolver")); err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	say(fmt.Sprintf("rotation latency, %d rotations each", cfg.rotations))
	if r.rotation, err = measureRotation(ctx, r.subjects, self, cfg.rotations, progressFunc(start, "rotation")); err != nil {
		return fmt.Errorf("rotation: %w", err)
	}
	say(fmt.Sprintf("rotation under load, %d rotations per scenario", cfg.loadRotations))
	if r.subjects[0].present() {
		r.load = measureLoad(ctx, r.subjects[0], self, cfg.loadRotations, progressFunc(start, "load"))
	}
	r.m.loadEnd = loadAvg()
	return writeReport(cfg.out, r.render(), say)
}

func writeReport(path, doc string, say func(string)) error {
	if err := writeFileAtomic(path, []byte(doc)); err != nil {
		return err
	}
	say("wrote " + path)
	return nil
}

// runLoadOnly measures the rotation under load alone and writes a report
// with only that section.
func runLoadOnly(ctx context.Context, cfg config, r *report, self string, start time.Time) error {
	if !r.subjects[0].present() {
		return fmt.Errorf("%s: %s", r.subjects[0].name, r.subjects[0].missing)
	}
	r.load = measureLoad(ctx, r.subjects[0], self, cfg.loadRotations, progressFunc(start, "load"))
	if err := writeFileAtomic(cfg.out, []byte("# hush: rotation under load\n\n"+r.loadSection())); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "wrote "+cfg.out)
	return nil
}

// collectSubjects lists the hush builds first, then the calibration
// programs, then the peers, with a note for every binary that is absent.
func collectSubjects(cfg config, extra []subject) ([]subject, []string) {
	subjects := []subject{hushSubject("", cfg.hush)}
	for _, f := range cfg.flavours {
		subjects = append(subjects, hushSubject(f[0], f[1]))
	}
	subjects = append(subjects, extra...)
	subjects = append(subjects, findPeers()...)
	var notes []string
	for _, s := range subjects {
		if !s.present() {
			notes = append(notes, fmt.Sprintf("%s: %s, skipped", s.name, s.missing))
		}
	}
	return subjects, notes
}

func measureSizes(subjects []subject) (map[string]binaryInfo, map[string]string) {
	infos, errs := map[string]binaryInfo{}, map[string]string{}
	for _, s := range subjects {
		if !s.present() {
			continue
		}
		info, err := inspectBinary(s.path)
		if err != nil {
			errs[s.name] = err.Error()
			continue
		}
		infos[s.name] = info
	}
	return infos, errs
}

// writeFileAtomic replaces path in one rename, so an interrupted run never
// leaves a half-written report in docs/.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".benchmarks-*.md")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write report: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
