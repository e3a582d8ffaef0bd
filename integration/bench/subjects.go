package main

import (
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
)

// subject is one binary under test: hush (or one of its flavours) or a peer.
type subject struct {
	name    string   // row label, e.g. "hush-files" or "tini-static"
	path    string   // absolute path; empty when missing
	shown   string   // path as the user gave it, for the report
	missing string   // why the subject is absent, shown instead of figures
	hush    bool     // true for hush builds, which carry budgets
	flavour string   // "" for the full bin/hush, else "files", "vault", ...
	dashes  bool     // whether the argv form puts "--" before the command
	env     []string // extra environment for this subject only
}

// displayPath is the path the report shows: as given for hush builds, so
// that the committed report says bin/hush rather than one machine's absolute
// path.
func (s subject) displayPath() string {
	if s.shown != "" {
		return s.shown
	}
	return s.path
}

// present reports whether the binary exists and can be measured.
func (s subject) present() bool { return s.missing == "" }

// argv returns the command line that makes s supervise cmd, in the form its
// documentation shows.
func (s subject) argv(cmd ...string) []string {
	a := []string{s.path}
	if s.dashes {
		a = append(a, "--")
	}
	return append(a, cmd...)
}

// referenceName is the peer every ratio is taken against: the static tini
// is what most images ship when they want a static init, and the budgets in
// DESIGN.md are stated against it.
const referenceName = "tini-static"

// peerSpec describes where Debian installs a peer and how it is invoked.
type peerSpec struct {
	name   string
	paths  []string
	dashes bool
	env    []string
}

// peers lists the inits hush is compared with. tini warns on stderr and
// skips PR_SET_CHILD_SUBREAPER when it is not PID 1; hush (and catatonit)
// register as subreaper in that case, so TINI_SUBREAPER=1 makes tini do the
// same work rather than print a warning on every start.
var peers = []peerSpec{
	{name: "tini-static", paths: []string{"/usr/bin/tini-static"}, dashes: true, env: []string{"TINI_SUBREAPER=1"}},
	{name: "tini", paths: []string{"/usr/bin/tini"}, dashes: true, env: []string{"TINI_SUBREAPER=1"}},
	{name: "dumb-init", paths: []string{"/usr/bin/dumb-init"}},
	{name: "catatonit", paths: []string{"/usr/bin/catatonit", "/usr/libexec/podman/catatonit"}, dashes: true},
}

// findPeers resolves every peer to an installed path, or marks it missing.
func findPeers() []subject {
	var out []subject
	for _, p := range peers {
		s := subject{name: p.name, dashes: p.dashes, env: p.env, missing: "not installed"}
		for _, candidate := range p.paths {
			if isExecutable(candidate) {
				s.path, s.missing = candidate, ""
				break
			}
		}
		out = append(out, s)
	}
	return out
}

// hushSubject describes one hush build given on the command line.
func hushSubject(flavour, path string) subject {
	name := "hush"
	if flavour != "" {
		name = "hush-" + flavour
	}
	s := subject{name: name, hush: true, flavour: flavour, dashes: true, shown: path}
	abs, err := filepath.Abs(path)
	if err != nil || !isExecutable(abs) {
		s.missing = fmt.Sprintf("not found at %s", path)
		return s
	}
	s.path = abs
	return s
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// binaryInfo is what the size table reports about one file.
type binaryInfo struct {
	size      int64
	static    bool   // no PT_INTERP: the kernel runs it without ld.so
	stripped  bool   // no .symtab section
	goVersion string // toolchain for Go binaries, empty otherwise
	buildTags string // -tags the Go binary was built with, if any
}

// inspectBinary reads the ELF headers of path. Static linking is decided by
// the absence of a PT_INTERP program header rather than by running ldd,
// because ldd executes the dynamic loader and prints different things on
// different distributions.
func inspectBinary(path string) (binaryInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return binaryInfo{}, fmt.Errorf("stat %s: %w", path, err)
	}
	f, err := elf.Open(path)
	if err != nil {
		return binaryInfo{}, fmt.Errorf("read ELF %s: %w", path, err)
	}
	defer f.Close()
	info := binaryInfo{size: fi.Size(), static: true, stripped: f.Section(".symtab") == nil}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			info.static = false
		}
	}
	// Peers are C programs, so buildinfo fails for them; that only means
	// there is no Go version to show.
	if bi, err := buildinfo.ReadFile(path); err == nil {
		info.goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "-tags" {
				info.buildTags = s.Value
			}
		}
	}
	return info, nil
}
