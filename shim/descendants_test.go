package shim

import (
	"os"
	"slices"
	"testing"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		stat  string
		want  procInfo
		valid bool
	}{
		{"plain", "42 (sleep) S 1 42 42 0 -1 4194560\n", procInfo{ppid: 1, pgid: 42, state: 'S'}, true},
		{"spaces in comm", "7 (my app) R 3 7 7 0", procInfo{ppid: 3, pgid: 7, state: 'R'}, true},
		{"parentheses in comm", "8 (a) b (c)) Z 5 8 8", procInfo{ppid: 5, pgid: 8, state: 'Z'}, true},
		{"comm that looks like fields", "9 (x) S 1 2) D 77 9 9", procInfo{ppid: 77, pgid: 9, state: 'D'}, true},
		{"empty comm", "10 () S 2 10", procInfo{ppid: 2, pgid: 10, state: 'S'}, true},
		{"no parenthesis", "11 sleep S 1 11", procInfo{}, false},
		{"nothing after comm", "12 (x)", procInfo{}, false},
		{"only a space after comm", "12 (x) ", procInfo{}, false},
		{"no ppid", "13 (x) S", procInfo{}, false},
		{"long state", "14 (x) SS 1 14", procInfo{}, false},
		{"non-numeric ppid", "15 (x) S one 15", procInfo{}, false},
		{"empty", "", procInfo{}, false},
	}
	for _, tt := range tests {
		got, ok := parseStat([]byte(tt.stat))
		if ok != tt.valid || got != tt.want {
			t.Errorf("%s: parseStat(%q) = %+v, %v; want %+v, %v", tt.name, tt.stat, got, ok, tt.want, tt.valid)
		}
	}
}

func TestParseStatStartTime(t *testing.T) {
	t.Parallel()
	line := "5 (x) S 1 5 5 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10"
	p, ok := parseStat([]byte(line))
	if !ok || p.start != 987654 || p.pgid != 5 {
		t.Errorf("parseStat(%q) = %+v, %v; want start 987654, pgid 5", line, p, ok)
	}
}

// TestGenerationMembers: a generation is its leader's group, their
// descendants, and what was seen of it before, never another generation.
func TestGenerationMembers(t *testing.T) {
	t.Parallel()
	// hush (1) leads two generations: 10 (group 10: 11, 12 -> 13 in its
	// own group) and 20. 30 is a daemon of generation 10 that setsid'd
	// and was re-parented to hush; 31 an unknown orphan of hush; 99 a
	// process of another parent.
	procs := map[int]procInfo{
		1:  {ppid: 0, pgid: 1, state: 'S'},
		10: {ppid: 1, pgid: 10, state: 'S', start: 100},
		11: {ppid: 10, pgid: 10, state: 'S', start: 101},
		12: {ppid: 10, pgid: 10, state: 'S', start: 102},
		13: {ppid: 12, pgid: 13, state: 'S', start: 103},
		14: {ppid: 10, pgid: 10, state: 'Z', start: 104},
		20: {ppid: 1, pgid: 20, state: 'S', start: 200},
		30: {ppid: 1, pgid: 30, state: 'S', start: 300},
		31: {ppid: 1, pgid: 31, state: 'S', start: 310},
		99: {ppid: 0, pgid: 99, state: 'S', start: 990},
		// Kernel threads, and processes whose group leader is in another
		// PID namespace, show pgid 0.
		2:   {ppid: 0, pgid: 0, state: 'S', start: 2},
		200: {ppid: 2, pgid: 0, state: 'S', start: 3},
	}
	pids := func(ms []member) []int {
		var out []int
		for _, m := range ms {
			out = append(out, m.pid)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name   string
		leader int
		known  []member
		all    bool
		want   []int
	}{
		{"group and descendants", 10, nil, false, []int{10, 11, 12, 13}},
		{"a daemon seen before", 10, []member{{30, 300}}, false, []int{10, 11, 12, 13, 30}},
		{"a recycled pid is not the daemon", 10, []member{{30, 299}}, false, []int{10, 11, 12, 13}},
		{"the other generation", 20, nil, false, []int{20}},
		{"the only generation takes the orphans", 10, nil, true, []int{10, 11, 12, 13, 20, 30, 31}},
		{"leader gone, group left", 12, nil, false, []int{12, 13}},
		{"no leader: only what is below hush", -1, nil, true, []int{10, 11, 12, 13, 20, 30, 31}},
		{"no leader, no orphans: nothing", 0, nil, false, nil},
	}
	for _, tt := range tests {
		if got := pids(generationMembers(procs, 1, tt.leader, tt.known, tt.all)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: members = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestReadStatSelf(t *testing.T) {
	t.Parallel()
	p, ok := readStat(os.Getpid())
	if !ok {
		t.Fatal("readStat(self) failed")
	}
	if p.ppid != os.Getppid() {
		t.Errorf("readStat(self).ppid = %d, want %d", p.ppid, os.Getppid())
	}
	if p.state == 'Z' {
		t.Errorf("readStat(self).state = %c", p.state)
	}
	if _, ok := readStat(-1); ok {
		t.Error("readStat(-1) succeeded")
	}
}
