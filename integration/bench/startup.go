package main

import (
	"context"
	"fmt"
	"time"
)

// job is one command line whose start-up cost is sampled.
type job struct {
	key  string // unique label, used in progress output
	argv []string
	env  []string

	failed string          // set by probe when the command does not succeed
	cpu    []time.Duration // samples
	wall   []time.Duration
}

// probe runs each job once, with stderr captured, and marks the ones that do
// not exit 0 so that a build lacking a feature becomes a note in the report
// instead of 300 failing samples.
func probe(ctx context.Context, jobs []*job) error {
	for _, j := range jobs {
		r, err := runOnce(ctx, j.argv, j.env, true)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			j.failed = err.Error()
			continue
		}
		if r.code != 0 {
			j.failed = fmt.Sprintf("exit status %d", r.code)
			if r.stderr != "" {
				j.failed += ": " + firstLine(r.stderr)
			}
		}
	}
	return nil
}

// sampleInterleaved runs every healthy job `runs` times, round-robin: one run
// of each job per round, starting each round at a different job. On a shared
// two-core machine the background load drifts over seconds; interleaving
// spreads that drift evenly over all binaries instead of penalising whichever
// happened to run during a busy spell, and rotating the start removes any
// systematic "runs right after X" effect.
func sampleInterleaved(ctx context.Context, jobs []*job, runs int, progress func(string)) error {
	var live []*job
	for _, j := range jobs {
		if j.failed == "" {
			live = append(live, j)
		}
	}
	for round := range runs {
		for i := range live {
			j := live[(round+i)%len(live)]
			r, err := runOnce(ctx, j.argv, j.env, false)
			if err != nil {
				return fmt.Errorf("%s: %w", j.key, err)
			}
			j.cpu = append(j.cpu, r.cpu)
			j.wall = append(j.wall, r.wall)
		}
		if (round+1)%max(1, runs/10) == 0 {
			progress(fmt.Sprintf("%d/%d rounds", round+1, runs))
		}
	}
	return nil
}

// startupRow is one line of the start-up table.
type startupRow struct {
	s         subject
	note      string
	cpu, wall time.Duration // medians of the raw samples
	net       time.Duration // median of (X - /bin/true) CPU, paired by round
	netWall   time.Duration // the same for wall-clock time
}

// startupResult holds the start-up table and the baseline it subtracts.
type startupResult struct {
	trueCPU, trueWall time.Duration
	runs              int
	rows              []startupRow
}

// measureStartup samples `X -- /bin/true` for every subject together with
// bare /bin/true. /bin/true's own cost (exec, dynamic loading of libc, exit)
// is subtracted because it is paid with or without an init; what remains is
// the init's own price.
func measureStartup(ctx context.Context, subjects []subject, truePath string, runs int, progress func(string)) (startupResult, error) {
	base := &job{key: "/bin/true", argv: []string{truePath}, env: []string{basePath}}
	jobs := []*job{base}
	byName := map[string]*job{}
	for _, s := range subjects {
		if !s.present() {
			continue
		}
		j := &job{key: s.name, argv: s.argv(truePath), env: envFor(s, nil)}
		jobs = append(jobs, j)
		byName[s.name] = j
	}
	if err := probe(ctx, jobs); err != nil {
		return startupResult{}, err
	}
	if base.failed != "" {
		return startupResult{}, fmt.Errorf("%s itself fails: %s", truePath, base.failed)
	}
	if err := sampleInterleaved(ctx, jobs, runs, progress); err != nil {
		return startupResult{}, err
	}
	res := startupResult{runs: runs}
	res.trueCPU, _ = median(base.cpu)
	res.trueWall, _ = median(base.wall)
	for _, s := range subjects {
		res.rows = append(res.rows, startupRowFor(s, byName[s.name], base))
	}
	return res, nil
}

func startupRowFor(s subject, j, base *job) startupRow {
	row := startupRow{s: s, note: s.missing}
	if j == nil {
		return row
	}
	if j.failed != "" {
		row.note = j.failed
		return row
	}
	row.cpu, _ = median(j.cpu)
	row.wall, _ = median(j.wall)
	row.net, _ = pairedMedian(j.cpu, base.cpu)
	row.netWall, _ = pairedMedian(j.wall, base.wall)
	return row
}
