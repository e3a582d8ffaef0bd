package shim

import (
	"strings"
	"syscall"
	"testing"
)

func TestParseSignal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want syscall.Signal
	}{
		{"15", syscall.SIGTERM},
		{"1", syscall.SIGHUP},
		{"9", syscall.SIGKILL},
		{"64", 64},
		{"TERM", syscall.SIGTERM},
		{"SIGTERM", syscall.SIGTERM},
		{"sigterm", syscall.SIGTERM},
		{"term", syscall.SIGTERM},
		{"SigHup", syscall.SIGHUP},
		{"usr1", syscall.SIGUSR1},
		{"SIGWINCH", syscall.SIGWINCH},
		{"RTMIN", 34},
		{"SIGRTMIN", 34},
		{"rtmin", 34},
		{"RTMIN+0", 34},
		{"RTMIN+1", 35},
		{"sigrtmin+2", 36},
		{"RTMIN+30", 64},
		{"RTMAX", 64},
		{"SIGRTMAX", 64},
		{"RTMAX-1", 63},
		{"sigrtmax-30", 34},
	}
	for _, tt := range tests {
		got, err := ParseSignal(tt.in)
		if err != nil {
			t.Errorf("ParseSignal(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseSignal(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParseSignalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		errPart string
	}{
		{"", "empty"},
		{"0", "out of range"},
		{"-1", "out of range"},
		{"65", "out of range"},
		{"1000", "out of range"},
		{"herp", "unknown signal"},
		{"SIG", "unknown signal"},
		{"SIGTERMX", "unknown signal"},
		{"TERM ", "unknown signal"},
		{"RTMIN+31", "unknown signal"},
		{"RTMIN-1", "unknown signal"},
		{"RTMAX+1", "unknown signal"},
		{"RTMAX-31", "unknown signal"},
		{"RTMIN+", "unknown signal"},
		{"RTMIN+x", "unknown signal"},
		{"RTMIN+-1", "unknown signal"},
		{"RTMINX", "unknown signal"},
		{"15x", "unknown signal"},
	}
	for _, tt := range tests {
		got, err := ParseSignal(tt.in)
		if err == nil {
			t.Errorf("ParseSignal(%q) = %d, want an error", tt.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.errPart) {
			t.Errorf("ParseSignal(%q) error %q, want it to contain %q", tt.in, err, tt.errPart)
		}
	}
}

func TestSignalName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sig  syscall.Signal
		want string
	}{
		{syscall.SIGTERM, "SIGTERM"},
		{syscall.SIGHUP, "SIGHUP"},
		{syscall.SIGKILL, "SIGKILL"},
		{34, "SIGRTMIN"},
		{35, "SIGRTMIN+1"},
		{64, "SIGRTMIN+30"},
	}
	for _, tt := range tests {
		if got := SignalName(tt.sig); got != tt.want {
			t.Errorf("SignalName(%d) = %q, want %q", tt.sig, got, tt.want)
		}
	}
}

// Every signal hush accepts has a name that parses back to it, so a logged
// name can always be pasted into -r or --stop-signal.
func TestSignalNameRoundTrip(t *testing.T) {
	t.Parallel()
	for n := syscall.Signal(1); n <= sigRTMax; n++ {
		name := SignalName(n)
		got, err := ParseSignal(name)
		if err != nil {
			t.Errorf("ParseSignal(SignalName(%d) = %q): %v", n, name, err)
			continue
		}
		if got != n {
			t.Errorf("ParseSignal(SignalName(%d) = %q) = %d", n, name, got)
		}
	}
}

func TestParseRewrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec     string
		from, to syscall.Signal
	}{
		{"TERM:INT", syscall.SIGTERM, syscall.SIGINT},
		{"15:2", syscall.SIGTERM, syscall.SIGINT},
		{"SIGTERM:sigquit", syscall.SIGTERM, syscall.SIGQUIT},
		{"TERM:0", syscall.SIGTERM, 0},
		{"1:0", syscall.SIGHUP, 0},
		{"RTMIN+1:USR1", 35, syscall.SIGUSR1},
		{"TTIN:TERM", syscall.SIGTTIN, syscall.SIGTERM},
		{"34:USR1", 34, syscall.SIGUSR1},
	}
	for _, tt := range tests {
		from, to, err := ParseRewrite(tt.spec)
		if err != nil {
			t.Errorf("ParseRewrite(%q): %v", tt.spec, err)
			continue
		}
		if from != tt.from || to != tt.to {
			t.Errorf("ParseRewrite(%q) = %d:%d, want %d:%d", tt.spec, from, to, tt.from, tt.to)
		}
	}
}

func TestParseRewriteErrors(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"", "herp", "15", "15::12", "1:65", ":", "TERM:", ":TERM", "0:1", "herp:TERM", "TERM:herp", "TERM:INT:HUP", "32:TERM", "33:0", "TERM:32", "USR1:33"} {
		from, to, err := ParseRewrite(spec)
		if err == nil {
			t.Errorf("ParseRewrite(%q) = %d:%d, want an error", spec, from, to)
			continue
		}
		if !strings.Contains(err.Error(), "rewrite") {
			t.Errorf("ParseRewrite(%q) error %q does not say it is about a rewrite", spec, err)
		}
	}
}

func TestCatchableAndForwardable(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGURG, syscall.SIGPROF, 32, 33, 34} {
		if catchable(sig) {
			t.Errorf("catchable(%s) = true", SignalName(sig))
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGCHLD, syscall.SIGTSTP, 35, 64} {
		if !catchable(sig) {
			t.Errorf("catchable(%s) = false", SignalName(sig))
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGCHLD, syscall.SIGTTIN, syscall.SIGTTOU} {
		if forwardable(sig) {
			t.Errorf("forwardable(%s) = true", SignalName(sig))
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGTSTP, syscall.SIGCONT, syscall.SIGWINCH, 35} {
		if !forwardable(sig) {
			t.Errorf("forwardable(%s) = false", SignalName(sig))
		}
	}
}
