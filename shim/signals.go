package shim

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Real-time signal bounds as the C library presents them: the kernel's first
// two (32 and 33) are reserved for threading, so SIGRTMIN is 34 to every tool
// users know (kill -l, docker kill -s RTMIN+1).
const (
	sigRTMin = 34
	sigRTMax = 64
)

// ParseSignal accepts a signal as a number ("15"), a name with or without the
// SIG prefix in any case ("TERM", "sigterm"), or a real-time offset
// ("RTMIN+2", "SIGRTMAX-1").
func ParseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return 0, fmt.Errorf("empty signal")
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > sigRTMax {
			return 0, fmt.Errorf("signal %d out of range 1..%d", n, sigRTMax)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig, ok := parseRealtime(name); ok {
		return sig, nil
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func parseRealtime(name string) (syscall.Signal, bool) {
	var base, sign int
	var rest string
	switch {
	case strings.HasPrefix(name, "SIGRTMIN"):
		base, sign, rest = sigRTMin, 1, strings.TrimPrefix(name, "SIGRTMIN")
	case strings.HasPrefix(name, "SIGRTMAX"):
		base, sign, rest = sigRTMax, -1, strings.TrimPrefix(name, "SIGRTMAX")
	default:
		return 0, false
	}
	if rest == "" {
		return syscall.Signal(base), true
	}
	op := "+"
	if sign < 0 {
		op = "-"
	}
	off, err := strconv.Atoi(strings.TrimPrefix(rest, op))
	if !strings.HasPrefix(rest, op) || err != nil || off < 0 || off > sigRTMax-sigRTMin {
		return 0, false
	}
	return syscall.Signal(base + sign*off), true
}

// SignalName gives the conventional name of sig for logs.
func SignalName(sig syscall.Signal) string {
	if sig >= sigRTMin && sig <= sigRTMax {
		if sig == sigRTMin {
			return "SIGRTMIN"
		}
		return fmt.Sprintf("SIGRTMIN+%d", int(sig)-sigRTMin)
	}
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return strconv.Itoa(int(sig))
}

// ParseRewrite parses -r S:R. R may be 0, meaning "drop S".
func ParseRewrite(spec string) (from, to syscall.Signal, err error) {
	f, t, ok := strings.Cut(spec, ":")
	if !ok || strings.Contains(t, ":") {
		return 0, 0, fmt.Errorf("rewrite %q: want FROM:TO, e.g. TERM:INT or 1:0", spec)
	}
	if from, err = ParseSignal(f); err != nil {
		return 0, 0, fmt.Errorf("rewrite %q: %w", spec, err)
	}
	if err := notReserved(from); err != nil {
		return 0, 0, fmt.Errorf("rewrite %q: %w", spec, err)
	}
	if t == "0" {
		return from, 0, nil
	}
	if to, err = ParseSignal(t); err != nil {
		return 0, 0, fmt.Errorf("rewrite %q: %w", spec, err)
	}
	if err := notReserved(to); err != nil {
		return 0, 0, fmt.Errorf("rewrite %q: %w", spec, err)
	}
	return from, to, nil
}

// notReserved refuses 32 and 33, which the C library keeps for its threads:
// hush can never receive them, and sending one to a program confuses its
// thread library, so a rewrite from or to them can only be a mistake.
func notReserved(sig syscall.Signal) error {
	if sig == 32 || sig == 33 {
		return fmt.Errorf("signal %d is reserved for the C library's threads (real-time signals start at 34, SIGRTMIN)", sig)
	}
	return nil
}

// Signals is the process-wide subscription to incoming signals. Create it with
// Catch as the first thing in main; see the package documentation for why.
type Signals struct {
	C <-chan os.Signal
	// reservedIgnored is set when signal 34 was made ignored, so that each
	// start can give the child its default action back.
	reservedIgnored bool
}

// Catch subscribes to every signal hush may forward or act on. Signals that
// were ignored when hush started are left alone so that the child inherits
// SIG_IGN for them.
func Catch() *Signals {
	ignored := false
	if os.Getpid() != 1 {
		// Best effort: failing leaves hush as every Go program is.
		ignored = ignoreRuntimeReserved() == nil
	}
	ch := make(chan os.Signal, 2048)
	var sigs []os.Signal
	for n := 1; n <= sigRTMax; n++ {
		sig := syscall.Signal(n)
		if !catchable(sig) || signal.Ignored(sig) {
			continue
		}
		sigs = append(sigs, sig)
	}
	signal.Notify(ch, sigs...)
	return &Signals{C: ch, reservedIgnored: ignored}
}

// catchable lists what os/signal can deliver: not KILL and STOP (nobody
// can), not URG (the runtime's preemption signal), not PROF (the runtime
// consumes it for profiling before os/signal sees it), not 32-34 (reserved
// for the C library's and the runtime's own use).
func catchable(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGURG, syscall.SIGPROF, 32, 33, sigRuntimeReserved:
		return false
	}
	return true
}

// forwardable reports whether a caught signal is meant for the child.
func forwardable(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGCHLD, syscall.SIGTTIN, syscall.SIGTTOU:
		return false
	}
	return true
}

// isStopSignal reports whether sig is one of the signals that mean "stop"
// to every container runtime and terminal: what docker stop, Ctrl-C and
// Ctrl-\ send. --stop-signal is added to these where it is known
// (machine.isStop).
func isStopSignal(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT:
		return true
	}
	return false
}
