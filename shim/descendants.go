package shim

import (
	"bytes"
	"os"
	"strconv"
)

// descendants lists the live processes hush is responsible for at exit: as
// PID 1 every other process of the namespace, otherwise every process whose
// chain of parents leads to hush (orphans re-parented to the subreaper
// included). Zombies are left out: they are already dead and the reaper
// collects them.
func descendants(self int) []int {
	procs := readProcs()
	if self == 1 {
		var all []int
		for pid, p := range procs {
			if pid != 1 && p.state != 'Z' {
				all = append(all, pid)
			}
		}
		return all
	}
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	var out []int
	queue := children[self]
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if procs[pid].state != 'Z' {
			out = append(out, pid)
		}
		queue = append(queue, children[pid]...)
	}
	return out
}

type procInfo struct {
	ppid  int
	state byte
}

func readProcs() map[int]procInfo {
	procs := map[int]procInfo{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return procs
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readStat(pid); ok {
			procs[pid] = p
		}
	}
	return procs
}

// readStat parses /proc/PID/stat. The command name is in parentheses and may
// itself contain spaces and parentheses, so fields are counted from the last
// ')'.
func readStat(pid int) (procInfo, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	return parseStat(b)
}

// parseStat is readStat's parser, apart so that odd command names can be
// tested without a process that has them.
func parseStat(b []byte) (procInfo, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procInfo{}, false
	}
	fields := bytes.Fields(b[i+2:])
	if len(fields) < 2 || len(fields[0]) != 1 {
		return procInfo{}, false
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return procInfo{}, false
	}
	return procInfo{ppid: ppid, state: fields[0][0]}, true
}
