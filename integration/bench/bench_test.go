package main

import (
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []time.Duration
		want time.Duration
		ok   bool
	}{
		{nil, 0, false},
		{[]time.Duration{7}, 7, true},
		{[]time.Duration{3, 1, 2}, 2, true},
		{[]time.Duration{4, 1, 3, 2}, 2, true}, // (2+3)/2 truncated to 2ns
		{[]time.Duration{10, 40, 20, 30}, 25, true},
	}
	for _, c := range cases {
		got, ok := median(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("median(%v) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestMedianDoesNotReorderInput(t *testing.T) {
	in := []time.Duration{3, 1, 2}
	median(in)
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Errorf("median sorted its input in place: %v", in)
	}
}

func TestPercentile(t *testing.T) {
	xs := []time.Duration{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	for p, want := range map[float64]time.Duration{0: 0, 90: 90, 100: 100, 95: 95} {
		if got, _ := percentile(xs, p); got != want {
			t.Errorf("percentile(%v) = %v, want %v", p, got, want)
		}
	}
}

func TestRatio(t *testing.T) {
	if got := ratio(3, 2, true); got != "1.50x" {
		t.Errorf("ratio(3, 2) = %q", got)
	}
	if got := ratio(3, 0, true); got != "—" {
		t.Errorf("ratio by zero = %q", got)
	}
	if got := ratio(3, 2, false); got != "—" {
		t.Errorf("ratio without reference = %q", got)
	}
}

func TestTableRendering(t *testing.T) {
	tb := table{header: []string{"binary", "value"}}
	tb.add("a|b", "1")
	tb.add("short") // padded to the header's width
	want := "| binary | value |\n|---|---|\n| a\\|b | 1 |\n| short |  |\n"
	if got := tb.String(); got != want {
		t.Errorf("table rendered as\n%s\nwant\n%s", got, want)
	}
}

func TestFlavourFlag(t *testing.T) {
	cfg, err := parseFlags([]string{"-flavour", "files=bin/hush-files", "-flavour", "vault=bin/hush-vault", "-runs", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.flavours) != 2 || cfg.flavours[1] != [2]string{"vault", "bin/hush-vault"} || cfg.runs != 3 {
		t.Errorf("parsed %+v", cfg)
	}
	if _, err := parseFlags([]string{"-flavour", "nopath"}); err == nil || !strings.Contains(err.Error(), "NAME=PATH") {
		t.Errorf("bad -flavour accepted: %v", err)
	}
}

func TestBudgetsMatchDesign(t *testing.T) {
	if b, _ := sizeBudget("files"); b != 2_500_000 {
		t.Errorf("files size budget %d", b)
	}
	if b, _ := rssBudget(""); b != 6144 {
		t.Errorf("full RSS budget %d KiB", b)
	}
	if _, ok := startupBudget("vault"); ok {
		t.Error("DESIGN.md states no start-up budget for the vault flavour")
	}
}

func TestPairedMedian(t *testing.T) {
	// Drift moves both series together; the paired difference ignores it.
	a := []time.Duration{110, 210, 310, 1010}
	b := []time.Duration{100, 200, 300, 1000}
	if got, ok := pairedMedian(a, b); !ok || got != 10 {
		t.Errorf("pairedMedian = %v, %v; want 10", got, ok)
	}
	if _, ok := pairedMedian(nil, b); ok {
		t.Error("pairedMedian of nothing reported ok")
	}
}
