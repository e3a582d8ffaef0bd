// Command probe is the child side of hush's integration tests: a small
// program with one subcommand per behaviour the tests need to observe from
// inside the process tree hush supervises.
//
//	probe signals [--log FILE] [--exit-on SIGS] [--code N] [--linger DUR] [-- CMD...]
//	probe bg [--code N] -- CMD...
//	probe orphans N
//	probe coalesce N CODE
//	probe exit N
//	probe ids
//	probe output N
//	probe sigwrap [--ignore SIGS] [--block SIGS] -- CMD...
//
// Every line the tests wait for ("ready", "got N", ...) is written and
// flushed before the probe acts on it, so a test can poll for it instead of
// sleeping.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fatalf("usage: probe SUBCOMMAND [ARG...]")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "signals":
		signals(args)
	case "bg":
		bg(args)
	case "orphans":
		orphans(args)
	case "_orphan-parent":
		orphanParent(args)
	case "coalesce":
		coalesce(args)
	case "exit":
		os.Exit(atoi(one(args)))
	case "ids":
		ids()
	case "output":
		output(atoi(one(args)))
	case "sigwrap":
		sigwrap(args)
	default:
		fatalf("unknown subcommand %q", os.Args[1])
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "probe: "+format+"\n", args...)
	os.Exit(99)
}

func one(args []string) string {
	if len(args) != 1 {
		fatalf("want exactly one argument, got %q", args)
	}
	return args[0]
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fatalf("%v", err)
	}
	return n
}

// catchable lists the signals a Go program can receive through os/signal.
// Left out: KILL and STOP (uncatchable), CHLD (the probe has children of
// its own and hush never forwards it), URG (the Go runtime sends it to
// itself for preemption, so a received one proves nothing), PROF (the Go
// runtime consumes it before os/signal sees it) and 32, 33, 34 (reserved
// for glibc's and musl's internal use; the Go runtime never delivers them
// and leaves 34 at its default action, which terminates the process).
func catchable() []os.Signal {
	var sigs []os.Signal
	for n := 1; n <= 64; n++ {
		switch syscall.Signal(n) {
		case unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGURG, unix.SIGPROF, 32, 33, 34:
			continue
		}
		sigs = append(sigs, syscall.Signal(n))
	}
	return sigs
}

// parseSignal accepts 15, TERM, SIGTERM, RTMIN+2 and SIGRTMIN+2.
func parseSignal(s string) syscall.Signal {
	if n, err := strconv.Atoi(s); err == nil {
		return syscall.Signal(n)
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if rest, ok := strings.CutPrefix(name, "RTMIN"); ok {
		off := 0
		if rest != "" {
			off = atoi(rest)
		}
		return syscall.Signal(34 + off)
	}
	if rest, ok := strings.CutPrefix(name, "RTMAX"); ok {
		off := 0
		if rest != "" {
			off = atoi(rest)
		}
		return syscall.Signal(64 + off)
	}
	sig := unix.SignalNum("SIG" + name)
	if sig == 0 {
		fatalf("unknown signal %q", s)
	}
	return sig
}

func parseSignals(list string) []syscall.Signal {
	var sigs []syscall.Signal
	for _, s := range strings.Split(list, ",") {
		if s != "" {
			sigs = append(sigs, parseSignal(s))
		}
	}
	return sigs
}

// splitCommand separates "flags -- CMD ARG..." into the two halves.
func splitCommand(args []string) (flags, cmd []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

// lineWriter writes whole lines to stdout or to an append-only log file.
type lineWriter struct{ w io.Writer }

func newLineWriter(logPath string) *lineWriter {
	if logPath == "" {
		return &lineWriter{os.Stdout}
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	if err != nil {
		fatalf("%v", err)
	}
	return &lineWriter{f}
}

func (l *lineWriter) println(format string, args ...any) {
	// One write(2) per line: readers polling the file never see half a line.
	if _, err := fmt.Fprintf(l.w, format+"\n", args...); err != nil {
		fatalf("write: %v", err)
	}
}

// startReady starts cmd and waits for its first output line, "ready".
// The child's stdout is a pipe that the caller stops reading afterwards,
// so children used this way must write nothing more on stdout.
func startReady(argv []string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fatalf("%v", err)
	}
	if err := cmd.Start(); err != nil {
		fatalf("start %q: %v", argv, err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		fatalf("%q did not say ready: %q, %v", argv, line, err)
	}
	return cmd
}

// signals reports every signal it receives, one "got N" line each, after
// a first "ready" line. It exits on the --exit-on signals, first lingering
// for --linger (a slow shutdown, like tini #180's grandchild) and writing
// "done". Given a CMD, it first starts it and waits until it is ready.
func signals(args []string) {
	fs := flag.NewFlagSet("signals", flag.ExitOnError)
	logPath := fs.String("log", "", "append lines to this file instead of stdout")
	exitOn := fs.String("exit-on", "", "comma-separated signals that end the probe")
	code := fs.Int("code", 0, "exit status after an --exit-on signal")
	linger := fs.Duration("linger", 0, "delay between an --exit-on signal and exit")
	flags, spawn := splitCommand(args)
	fs.Parse(flags)

	// Notify before anything else, so no signal sent after "ready" can
	// take its default action.
	ch := make(chan os.Signal, 256)
	signal.Notify(ch, catchable()...)
	exits := map[syscall.Signal]bool{}
	for _, s := range parseSignals(*exitOn) {
		exits[s] = true
	}
	out := newLineWriter(*logPath)
	if len(spawn) > 0 {
		startReady(spawn)
	}
	out.println("ready")
	if *logPath != "" {
		// Whoever started us (probe bg) waits for this on stdout.
		fmt.Println("ready")
	}
	for s := range ch {
		sig := s.(syscall.Signal)
		out.println("got %d", int(sig))
		if exits[sig] {
			time.Sleep(*linger)
			out.println("done")
			os.Exit(*code)
		}
	}
}

// bg starts CMD, waits until it is ready, and exits with --code without
// waiting for it: CMD becomes an orphan that hush has to deal with.
func bg(args []string) {
	fs := flag.NewFlagSet("bg", flag.ExitOnError)
	code := fs.Int("code", 0, "exit status")
	flags, cmd := splitCommand(args)
	fs.Parse(flags)
	if len(cmd) == 0 {
		fatalf("bg: no command")
	}
	startReady(cmd)
	fmt.Println("ready")
	os.Exit(*code)
}

// orphans double-forks N grandchildren: an intermediate process starts N
// cat processes that all read one pipe, and exits, so the cats are
// re-parented to the nearest subreaper (hush). The probe holds the pipe's
// write end and says "orphaned N". On SIGUSR1 it closes it ("released"):
// the cats see EOF and exit, and are zombies of hush until hush reaps
// them. On SIGTERM it says "bye" and exits 0.
func orphans(args []string) {
	n := one(args)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, unix.SIGUSR1, unix.SIGTERM)
	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		fatalf("%v", err)
	}
	cmd := exec.Command(self, "_orphan-parent", n)
	cmd.Stdin = r
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fatalf("orphan parent: %v", err)
	}
	r.Close()
	fmt.Println("orphaned", n)
	for s := range ch {
		switch s {
		case unix.SIGUSR1:
			w.Close()
			fmt.Println("released")
		case unix.SIGTERM:
			fmt.Println("bye")
			os.Exit(0)
		}
	}
}

func orphanParent(args []string) {
	for i := 0; i < atoi(one(args)); i++ {
		cmd := exec.Command("cat")
		cmd.Stdin = os.Stdin // the pipe, passed as is
		if err := cmd.Start(); err != nil {
			fatalf("%v", err)
		}
	}
	// Exit without waiting: the cats are orphaned.
}

// coalesce starts N cat processes that all read one pipe, then exits with
// CODE. Its exit closes the pipe's only write end, so the N cats (now
// orphans of hush) see EOF and exit at the same moment as the probe: hush
// receives one coalesced SIGCHLD for N+1 deaths and must still find the
// main child's status (catatonit e4c14f5).
func coalesce(args []string) {
	if len(args) != 2 {
		fatalf("coalesce N CODE")
	}
	n, code := atoi(args[0]), atoi(args[1])
	r, w, err := os.Pipe()
	if err != nil {
		fatalf("%v", err)
	}
	for i := 0; i < n; i++ {
		cmd := exec.Command("cat")
		cmd.Stdin = r // an *os.File is passed as is, no copying goroutine
		if err := cmd.Start(); err != nil {
			fatalf("%v", err)
		}
	}
	r.Close()
	runtime.KeepAlive(w) // held open until exit
	os.Exit(code)
}

// ids prints the credentials the probe runs with.
func ids() {
	groups, err := os.Getgroups()
	if err != nil {
		fatalf("%v", err)
	}
	sort.Ints(groups)
	gs := make([]string, len(groups))
	for i, g := range groups {
		gs[i] = strconv.Itoa(g)
	}
	fmt.Printf("uid=%d gid=%d groups=%s home=%s\n",
		os.Getuid(), os.Getgid(), strings.Join(gs, ","), os.Getenv("HOME"))
}

// output writes N bytes of a fixed pattern to stdout and a fixed text
// without a trailing newline to stderr, then exits at once: hush must pass
// both through unchanged and must not lose what is still in flight.
func output(n int) {
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte(i*7 + i/251)
	}
	if _, err := os.Stdout.Write(buf); err != nil {
		fatalf("%v", err)
	}
	os.Stderr.WriteString("to stderr\n\x00binary\xff no newline")
}

// sigwrap execs CMD with the given signals ignored and blocked, the way a
// container runtime or a shell may start hush (tini's sigconf test, T13).
// The Go runtime owns the signal state while it runs, so the changes are
// made with raw system calls on one locked thread right before execve(2):
// the mask is per thread and survives execve, SIG_IGN is per process and
// survives execve.
func sigwrap(args []string) {
	fs := flag.NewFlagSet("sigwrap", flag.ExitOnError)
	ignore := fs.String("ignore", "", "signals to set to SIG_IGN")
	block := fs.String("block", "", "signals to block")
	flags, cmd := splitCommand(args)
	fs.Parse(flags)
	if len(cmd) == 0 {
		fatalf("sigwrap: no command")
	}
	path, err := exec.LookPath(cmd[0])
	if err != nil {
		fatalf("%v", err)
	}

	runtime.LockOSThread()
	for _, s := range parseSignals(*ignore) {
		// struct kernel_sigaction on amd64/arm64: handler, flags, restorer, mask.
		act := struct {
			handler, flags, restorer uintptr
			mask                     uint64
		}{handler: 1 /* SIG_IGN */}
		if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s),
			uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); errno != 0 {
			fatalf("rt_sigaction(%d): %v", s, errno)
		}
	}
	var set unix.Sigset_t
	for _, s := range parseSignals(*block) {
		set.Val[(s-1)/64] |= 1 << ((uint(s) - 1) % 64)
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil); err != nil {
		fatalf("sigprocmask: %v", err)
	}
	err = unix.Exec(path, cmd, os.Environ())
	fatalf("exec %s: %v", path, err)
}
