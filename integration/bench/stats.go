package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// median returns the middle value of xs (the mean of the two middle values
// for an even count). The median, not the mean, is reported everywhere
// because the machine is shared: a few runs that were descheduled by another
// worker would drag a mean far more than they move a median.
func median(xs []time.Duration) (time.Duration, bool) {
	return percentile(xs, 50)
}

// pairedMedian returns the median of a[i]-b[i], where a[i] and b[i] were
// taken in the same round. Under drifting load two samples taken a few
// milliseconds apart share most of the disturbance, so their difference is
// steadier than the difference of two medians taken over the whole run.
func pairedMedian(a, b []time.Duration) (time.Duration, bool) {
	n := min(len(a), len(b))
	d := make([]time.Duration, n)
	for i := range n {
		d[i] = a[i] - b[i]
	}
	return median(d)
}

// percentile returns the p-th percentile of xs by linear interpolation
// between closest ranks; ok is false for an empty slice.
func percentile(xs []time.Duration, p float64) (time.Duration, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if p <= 0 {
		return s[0], true
	}
	if p >= 100 {
		return s[len(s)-1], true
	}
	rank := p / 100 * float64(len(s)-1)
	lo := int(rank)
	frac := rank - float64(lo)
	if lo+1 >= len(s) {
		return s[lo], true
	}
	return s[lo] + time.Duration(frac*float64(s[lo+1]-s[lo])), true
}

// fmtMicros renders d in microseconds with the given number of decimals.
func fmtMicros(d time.Duration, decimals int) string {
	return fmt.Sprintf("%.*f", decimals, float64(d)/float64(time.Microsecond))
}

// fmtMillis renders d in milliseconds with the given number of decimals.
func fmtMillis(d time.Duration, decimals int) string {
	return fmt.Sprintf("%.*f", decimals, float64(d)/float64(time.Millisecond))
}

// ratio renders a/b as "1.23x", or "—" when there is nothing meaningful to
// divide by (a missing reference, or a reference figure of zero or less).
func ratio(a, b float64, haveB bool) string {
	if !haveB || b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// fmtMB renders a byte count in decimal megabytes, the unit the budgets in
// DESIGN.md use for binary sizes.
func fmtMB(n int64) string {
	return fmt.Sprintf("%.2f", float64(n)/1e6)
}

// fmtMiB renders a KiB count (as /proc reports VmRSS) in MiB, the unit of
// the RSS budgets.
func fmtMiB(kib int64) string {
	return fmt.Sprintf("%.2f", float64(kib)/1024)
}

// passFail renders the verdict of a budget check.
func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "**FAIL**"
}

// table is a markdown table built row by row.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// String renders the table as GitHub-flavoured markdown. Pipes inside cells
// are escaped so that a note quoting a command line cannot break the layout,
// and short rows are padded so every row has as many cells as the header.
func (t *table) String() string {
	var b strings.Builder
	writeRow := func(cells []string) {
		b.WriteString("|")
		for i := range t.header {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			c = strings.ReplaceAll(c, "|", `\|`)
			c = strings.ReplaceAll(c, "\n", " ")
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	writeRow(t.header)
	b.WriteString("|")
	for range t.header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		writeRow(r)
	}
	return b.String()
}
