package shim

import (
	"os"
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
		{"plain", "42 (sleep) S 1 42 42 0 -1 4194560\n", procInfo{ppid: 1, state: 'S'}, true},
		{"spaces in comm", "7 (my app) R 3 7 7 0", procInfo{ppid: 3, state: 'R'}, true},
		{"parentheses in comm", "8 (a) b (c)) Z 5 8 8", procInfo{ppid: 5, state: 'Z'}, true},
		{"comm that looks like fields", "9 (x) S 1 2) D 77 9 9", procInfo{ppid: 77, state: 'D'}, true},
		{"empty comm", "10 () S 2 10", procInfo{ppid: 2, state: 'S'}, true},
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
