package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// machine holds the facts that let a reader judge whether two reports are
// comparable.
type machine struct {
	nproc     int
	kernel    string
	cpuModel  string
	goVersion string
	date      time.Time
	loadStart string
	loadEnd   string
}

func readMachine() machine {
	return machine{
		nproc:     runtime.NumCPU(),
		kernel:    readTrimmed("/proc/sys/kernel/osrelease"),
		cpuModel:  cpuModel(),
		goVersion: runtime.Version(),
		date:      time.Now().UTC(),
		loadStart: loadAvg(),
	}
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAvg returns the 1, 5 and 15 minute load averages: the machine is
// shared, and a high load explains noisy figures better than any footnote.
func loadAvg() string {
	f := strings.Fields(readTrimmed("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// resolveTool finds a helper program once, as an absolute path, so that
// every run execs the same file without a PATH search of its own.
func resolveTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("find %s: %w", name, err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("find %s: %w", name, err)
	}
	return abs, nil
}
