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
	pgid  int    // 0 when the line is too short to tell
	start uint64 // start time in clock ticks since boot; tells a recycled pid apart
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
	p := procInfo{ppid: ppid, state: fields[0][0]}
	// Fields 5 (pgrp) and 22 (starttime) of proc(5), counted from state = 3.
	if len(fields) > 2 {
		p.pgid, _ = strconv.Atoi(string(fields[2]))
	}
	if len(fields) > 19 {
		p.start, _ = strconv.ParseUint(string(fields[19]), 10, 64)
	}
	return p, true
}

// member is one process of a generation, named so that a recycled pid is
// never taken for it.
type member struct {
	pid   int
	start uint64
}

// generationMembers lists the live processes of a generation: its leader,
// every process in the leader's process group, every descendant of those,
// and the members seen at an earlier look that still run (a daemon that
// left the group with setsid and was re-parented to hush no longer has the
// leader among its ancestors, but it was seen while it did). With
// orphansToo, every descendant of hush counts as well: when only one
// generation exists, whatever hush still has below it came from it.
func generationMembers(procs map[int]procInfo, self, leader int, known []member, orphansToo bool) []member {
	in := map[int]bool{}
	var queue []int
	// Never hush itself, never PID 1 (the namespace's init, which a
	// generation cannot be), never a zombie (already dead).
	add := func(pid int) {
		if p, ok := procs[pid]; ok && !in[pid] && pid != self && pid > 1 && p.state != 'Z' {
			in[pid] = true
			queue = append(queue, pid)
		}
	}
	// leader <= 0 means "no leader" (adoptOrphans). Never match pgid 0:
	// /proc shows 0 for kernel threads and for processes whose group
	// leader lives in another PID namespace, which are nobody's generation.
	if leader > 0 {
		add(leader)
		for pid, p := range procs {
			if p.pgid == leader {
				add(pid)
			}
		}
	}
	for _, k := range known {
		if p, ok := procs[k.pid]; ok && p.start == k.start {
			add(k.pid)
		}
	}
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	if orphansToo {
		for _, c := range children[self] {
			add(c)
		}
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			add(c)
		}
	}
	out := make([]member, 0, len(in))
	for pid := range in {
		out = append(out, member{pid: pid, start: procs[pid].start})
	}
	return out
}
