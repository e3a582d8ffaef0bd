package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// resolverRow is one line of the resolver table: one hush build with n
// file references.
type resolverRow struct {
	s    subject
	refs int
	note string
	cpu  time.Duration // median CPU of `hush -- /bin/true` with refs references
	net  time.Duration // median of (N refs - 0 refs) CPU, paired by round
}

// secretFiles writes n small secret files into dir and returns the
// environment that references the first k of them, for any k <= n.
func secretFiles(dir string, n int) (func(k int) []string, error) {
	for i := 1; i <= n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("s%d", i))
		if err := os.WriteFile(p, fmt.Appendf(nil, "secret-%d\n", i), 0o600); err != nil {
			return nil, fmt.Errorf("write secret file: %w", err)
		}
	}
	return func(k int) []string {
		env := make([]string, 0, k)
		for i := 1; i <= k; i++ {
			env = append(env, fmt.Sprintf("V%d=ref+file://%s", i, filepath.Join(dir, fmt.Sprintf("s%d", i))))
		}
		return env
	}, nil
}

// measureResolver samples `hush -- /bin/true` with 0 and each count of file
// references, all builds and counts interleaved in one round-robin. The
// 0-reference run of the same build is subtracted, so what is left is the
// price of parsing, reading and injecting the references alone.
func measureResolver(ctx context.Context, subjects []subject, truePath string, counts []int, runs int, progress func(string)) ([]resolverRow, error) {
	most := 0
	for _, c := range counts {
		most = max(most, c)
	}
	dir, err := os.MkdirTemp("", "hush-bench-secrets-")
	if err != nil {
		return nil, fmt.Errorf("secret dir: %w", err)
	}
	defer os.RemoveAll(dir)
	refs, err := secretFiles(dir, most)
	if err != nil {
		return nil, err
	}
	levels := append([]int{0}, counts...)
	var jobs []*job
	table := map[string]map[int]*job{}
	for _, s := range subjects {
		if !s.hush || !s.present() {
			continue
		}
		table[s.name] = map[int]*job{}
		for _, n := range levels {
			j := &job{key: fmt.Sprintf("%s/%d refs", s.name, n), argv: s.argv(truePath), env: envFor(s, refs(n))}
			jobs = append(jobs, j)
			table[s.name][n] = j
		}
	}
	if len(jobs) == 0 {
		return resolverRows(subjects, counts, table), nil
	}
	if err := probe(ctx, jobs); err != nil {
		return nil, err
	}
	if err := verifyResolution(ctx, subjects, table); err != nil {
		return nil, err
	}
	if err := sampleInterleaved(ctx, jobs, runs, progress); err != nil {
		return nil, err
	}
	return resolverRows(subjects, counts, table), nil
}

// verifyResolution checks, once per build and count, that the last
// reference really reaches the child resolved. Exiting 0 is not enough: a
// build without the file backend might pass "ref+file://..." through as a
// plain value, and its near-zero cost would read as a great result.
func verifyResolution(ctx context.Context, subjects []subject, table map[string]map[int]*job) error {
	for _, s := range subjects {
		for n, j := range table[s.name] {
			if n == 0 || j.failed != "" {
				continue
			}
			printenv, err := exec.LookPath("printenv")
			if err != nil {
				return fmt.Errorf("verify references: %w", err)
			}
			cctx, cancel := context.WithTimeout(ctx, runTimeout)
			cmd := exec.CommandContext(cctx, s.path, s.argv(printenv, fmt.Sprintf("V%d", n))[1:]...)
			cmd.Env = j.env
			out, err := cmd.Output()
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			got, want := strings.TrimSpace(string(out)), fmt.Sprintf("secret-%d", n)
			switch {
			case err != nil:
				j.failed = fmt.Sprintf("printenv check: %v", err)
			case got != want:
				j.failed = "reference reached the child unresolved"
			}
		}
	}
	return nil
}

func resolverRows(subjects []subject, counts []int, table map[string]map[int]*job) []resolverRow {
	var rows []resolverRow
	for _, s := range subjects {
		if !s.hush {
			continue
		}
		for _, n := range counts {
			rows = append(rows, resolverRowFor(s, n, table[s.name]))
		}
	}
	return rows
}

func resolverRowFor(s subject, n int, jobs map[int]*job) resolverRow {
	row := resolverRow{s: s, refs: n, note: s.missing}
	if jobs == nil {
		return row
	}
	zero, j := jobs[0], jobs[n]
	switch {
	case zero.failed != "":
		row.note = "hush fails without references: " + zero.failed
	case j.failed != "":
		row.note = "not supported by this build (" + j.failed + ")"
	default:
		row.cpu, _ = median(j.cpu)
		row.net, _ = pairedMedian(j.cpu, zero.cpu)
	}
	return row
}
