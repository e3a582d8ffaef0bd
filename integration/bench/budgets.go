package main

import (
	"fmt"
	"time"
)

// The budgets below are copied from "Performance budgets" in
// /work/shared/DESIGN.md and keyed by flavour ("" is the full bin/hush).
// A flavour DESIGN.md gives no figure for gets no verdict rather than a
// guessed one.

// sizeBudget is the largest allowed binary, in bytes (decimal MB, the
// stricter reading of "MB").
func sizeBudget(flavour string) (int64, bool) {
	switch flavour {
	case "":
		return 10_000_000, true
	case "vault":
		return 9_000_000, true
	case "files":
		return 3_250_000, true
	}
	return 0, false
}

// rssBudget is the largest allowed idle VmRSS with file references only, in
// KiB.
func rssBudget(flavour string) (int64, bool) {
	switch flavour {
	case "":
		return 8 * 1024, true
	case "files":
		return 4 * 1024, true
	}
	return 0, false
}

// startupBudget is the largest allowed ratio of net start-up CPU against
// the calibration wrapper measured in the same run (go-exec-wrapper, which
// forwards every signal as DESIGN.md asks).
func startupBudget(flavour string) (float64, bool) {
	switch flavour {
	case "":
		return 2.0, true
	case "files":
		return 1.5, true
	}
	return 0, false
}

// rotationBudget is the longest allowed time from a file change to the new
// child running, beyond the debounce window and the old child's stop time.
// DESIGN.md states it for every build; the median over the rotations is
// what is held against it, as for the other time budgets.
const rotationBudget = 100 * time.Millisecond

// check is one budget verdict, collected for the summary at the top.
type check struct {
	budget   string
	binary   string
	measured string
	ok       bool
}

// verdict renders a budget and its result as two table cells and records
// the check; unbudgeted rows get dashes.
func (r *report) verdict(s subject, has bool, budget, measured string, ok bool) (string, string) {
	if !s.hush || !has {
		return "—", "—"
	}
	r.checks = append(r.checks, check{budget: budget, binary: s.name, measured: measured, ok: ok})
	return budget, passFail(ok)
}

func mb(n int64) string { return fmt.Sprintf("%s MB", fmtMB(n)) }
