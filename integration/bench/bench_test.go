package main

import (
	"os"
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
	if b, _ := sizeBudget("files"); b != 3_250_000 {
		t.Errorf("files size budget %d", b)
	}
	if b, _ := rssBudget(""); b != 8192 {
		t.Errorf("full RSS budget %d KiB", b)
	}
	if rotationBudget != 100*time.Millisecond {
		t.Errorf("rotation budget %s", rotationBudget)
	}
	if b, _ := startupBudget(""); b != 2.0 {
		t.Errorf("full start-up budget %.1fx the wrapper", b)
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

func TestParseRotLine(t *testing.T) {
	cases := []struct {
		in   string
		want rotLine
	}{
		{"start 123 v000001", rotLine{kind: "start", ns: 123, value: "v000001"}},
		{"start 5 ", rotLine{kind: "start", ns: 5}},
		{"start 5", rotLine{kind: "start", ns: 5}}, // an empty $S
		{"stop-begin 7", rotLine{kind: "stop-begin", ns: 7}},
		{"stop-end 8", rotLine{kind: "stop-end", ns: 8}},
	}
	for _, c := range cases {
		got, err := parseRotLine(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseRotLine(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "ready", "start x v", "stop-end 8 9", "exit 3"} {
		if _, err := parseRotLine(bad); err == nil {
			t.Errorf("parseRotLine(%q) accepted", bad)
		}
	}
}

func TestRotSampleParts(t *testing.T) {
	// Change at 1000, debounce 100: SIGTERM handled at 1130, the child
	// stops for 20 and the new one runs 40 after.
	s := rotSample{change: 1000, stopBegin: 1130, stopEnd: 1150, start: 1190}
	const d = 100
	if got := s.latency(d); got != 70 {
		t.Errorf("latency = %d, want 70 (190 - debounce 100 - stop 20)", got)
	}
	if s.toStop(d) != 30 || s.toStart() != 40 || s.stopTime() != 20 {
		t.Errorf("parts %d, %d, %d; want 30, 40, 20", s.toStop(d), s.toStart(), s.stopTime())
	}
	if s.toStop(d)+s.toStart() != s.latency(d) {
		t.Error("the two phases do not add up to the latency")
	}
}

func TestSecretValueWidth(t *testing.T) {
	// An in-place write relies on every value having the same length.
	if len(secretValue(0)) != len(secretValue(999_999)) {
		t.Errorf("%q and %q differ in length", secretValue(0), secretValue(999_999))
	}
}

func TestChangeSecret(t *testing.T) {
	for _, kind := range []changeKind{writeInPlace, renameOver, kubeSwap} {
		t.Run(kind.String(), func(t *testing.T) {
			dir := t.TempDir()
			path, err := setupSecret(dir, kind, secretValue(0))
			if err != nil {
				t.Fatal(err)
			}
			for n := 1; n <= 2; n++ {
				if err := changeSecret(dir, kind, secretValue(n-1), secretValue(n)); err != nil {
					t.Fatal(err)
				}
				if b, err := os.ReadFile(path); err != nil || string(b) != secretValue(n) {
					t.Errorf("after change %d: %q, %v", n, b, err)
				}
			}
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			want := map[changeKind]string{
				writeInPlace: "s",
				renameOver:   "s",
				kubeSwap:     "..data ..v000002 s", // old versions removed, no ..data_tmp left
			}[kind]
			if got := strings.Join(names, " "); got != want {
				t.Errorf("directory holds %q, want %q", got, want)
			}
		})
	}
}

func TestFmtMillis(t *testing.T) {
	if got := fmtMillis(1234567*time.Nanosecond, 1); got != "1.2" {
		t.Errorf("fmtMillis = %q", got)
	}
}

func TestRotationCells(t *testing.T) {
	ms := int64(time.Millisecond)
	row := rotRow{
		s:  subject{name: "hush", hush: true},
		sc: rotScenario{change: writeInPlace, debounce: 100 * time.Millisecond},
		samples: []rotSample{
			{change: 0, stopBegin: 103 * ms, stopEnd: 104 * ms, start: 110 * ms}, // 9 ms
			{change: 0, stopBegin: 99 * ms, stopEnd: 100 * ms, start: 300 * ms},  // 199 ms, SIGTERM inside the window
			{change: 0, stopBegin: 102 * ms, stopEnd: 103 * ms, start: 106 * ms}, // 5 ms
		},
	}
	r := &report{}
	cells := r.rotationCells(row)
	if cells[4] != "9.0" || cells[6] != "199.0" || cells[len(cells)-1] != "pass" {
		t.Errorf("cells %q", cells)
	}
	if !strings.Contains(cells[10], "inside the window") {
		t.Errorf("a SIGTERM before the debounce ended is not flagged: %q", cells[10])
	}
	if len(r.checks) != 1 || !r.checks[0].ok {
		t.Errorf("checks %+v", r.checks)
	}
}
