package shim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ExitOnChange is hush's status when --on-change exit stopped the child
// because a secret changed: EX_TEMPFAIL from sysexits.h, "try again", so that
// an orchestrator restarts the container rather than treating it as done.
const ExitOnChange = 75

// Config is how the child is supervised. The zero value of each field is the
// tini-like default.
type Config struct {
	Argv         []string
	ProcessGroup bool                              // -g: signal the child's whole group
	RemapExit    map[int]bool                      // -e: these statuses become 0
	Rewrite      map[syscall.Signal]syscall.Signal // -r: 0 drops the signal
	User         *User                             // --user; nil keeps hush's
	Drain        time.Duration                     // --drain
	StopSignal   syscall.Signal                    // restart/drain signal; 0 = SIGTERM
	StopTimeout  time.Duration                     // grace before SIGKILL on restart; 0 = 10s
	Logger       *slog.Logger
}

// Prepare builds the environment of the first child. It may block (secrets are
// read here) and must honour ctx, which is cancelled if hush is told to stop.
type Prepare func(ctx context.Context) ([]string, error)

// RequestKind is what a secret change asks the supervisor to do.
type RequestKind int

const (
	// Restart stops the child and starts a new one with Request.Env.
	Restart RequestKind = iota
	// Signal sends Request.Signal to the running child.
	Signal
	// Stop stops the child and makes hush exit with ExitOnChange.
	Stop
	// Roll starts a new generation with Request.Env while the old one keeps
	// running, and stops the old one once the new one is ready.
	Roll
)

// Request comes from whatever watches the secrets.
type Request struct {
	Kind   RequestKind
	Env    []string
	Signal syscall.Signal
	Reason string    // for logs: names of what changed, never values
	Since  time.Time // when the change was first noticed, for the latency log
}

type phase int

const (
	running  phase = iota // the child is alive and nothing is pending
	stopping              // the child was asked to stop; restart or exit follows
)

// Supervisor owns the child, the reaper and the signal subscription.
type Supervisor struct {
	cfg        Config
	sigs       *Signals
	log        *slog.Logger
	self       int
	foreground bool
	files      []*os.File

	child     *os.Process
	phase     phase
	next      *Request // what follows the current stop
	stopSent  time.Time
	killTimer *time.Timer
	// terminating is set when an outside stop signal arrives during a
	// restart: the restart is abandoned and hush exits with the child.
	terminating bool
}

// New prepares a supervisor. sigs must come from Catch, called earlier.
func New(cfg Config, sigs *Signals) *Supervisor {
	if cfg.StopSignal == 0 {
		cfg.StopSignal = syscall.SIGTERM
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{
		cfg:        cfg,
		sigs:       sigs,
		log:        cfg.Logger,
		self:       os.Getpid(),
		foreground: ownsTerminal(),
		files:      inheritedFiles(),
	}
}

// BecomeSubreaper makes hush adopt orphaned descendants when it is not PID 1,
// so that reaping works under `docker run` without --init's help, under
// systemd, or in a shell. As PID 1 the kernel already does this.
func BecomeSubreaper() error {
	if os.Getpid() == 1 {
		return nil
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become child subreaper: %w", err)
	}
	return nil
}

// Start runs prepare (which reads the secrets) while already handling
// signals, then starts the first child. started is false when no child was
// started: prepare failed, the command could not be executed (code 125, 126
// or 127 with err), or a stop signal arrived first (code 128+N, err nil).
// After a successful Start, call Supervise.
func (s *Supervisor) Start(ctx context.Context, prepare Prepare) (code int, started bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type prepared struct {
		env []string
		err error
	}
	ready := make(chan prepared, 1)
	go func() {
		env, err := prepare(ctx)
		ready <- prepared{env, err}
	}()
	// The prepare goroutine is joined on every path: it must not outlive
	// Start, or it could still be writing secret files while the caller
	// cleans them up.
	join := func() { cancel(); <-ready }
	var early []syscall.Signal
	for {
		select {
		case sig := <-s.sigs.C:
			n := sig.(syscall.Signal)
			switch {
			case n == syscall.SIGCHLD:
				s.reapOrphans()
			case stopsStartup(n):
				s.log.Info("stop signal before the child started; not starting it", "signal", SignalName(n))
				join()
				return 128 + int(n), false, nil
			case forwardable(n):
				early = append(early, n)
			}
		case p := <-ready:
			if p.err != nil {
				return ExitHushFailed, false, p.err
			}
			if err := s.spawn(p.env); err != nil {
				return execErrorCode(err), false, err
			}
			for _, sig := range early {
				s.forward(sig)
			}
			return 0, true, nil
		}
	}
}

// Run is Start followed by Supervise.
func (s *Supervisor) Run(ctx context.Context, prepare Prepare, requests <-chan Request) (int, error) {
	code, started, err := s.Start(ctx, prepare)
	if !started {
		return code, err
	}
	return s.Supervise(requests)
}

func execErrorCode(err error) int {
	var ee *ExecError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitHushFailed
}

func (s *Supervisor) spawn(env []string) error {
	if s.cfg.User != nil {
		env = withHome(env, s.cfg.User.Home)
	}
	proc, err := start(spec{
		argv:       s.cfg.Argv,
		env:        env,
		user:       s.cfg.User,
		foreground: s.foreground,
		files:      s.files,

		reservedIgnored: s.sigs.reservedIgnored,
	})
	if err != nil {
		return err
	}
	s.child = proc
	s.phase = running
	s.log.Debug("child started", "pid", proc.Pid)
	return nil
}

// withHome sets HOME to the target user's, as gosu and su-exec do: root's
// HOME would point the child at a directory it cannot write.
func withHome(env []string, home string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if len(kv) >= 5 && kv[:5] == "HOME=" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "HOME="+home)
}

// Supervise is the event loop, from the first child's start until the last
// child ends: one goroutine, so the reaper, the signal forwarding and the
// restart state machine never race each other. It returns hush's exit status.
func (s *Supervisor) Supervise(requests <-chan Request) (int, error) {
	// The child may have exited before its SIGCHLD was subscribed to the
	// loop; reap once right away.
	if code, done, err := s.handleExits(reap()); done {
		return code, err
	}
	for {
		var killC <-chan time.Time
		if s.killTimer != nil {
			killC = s.killTimer.C
		}
		select {
		case sig := <-s.sigs.C:
			n := sig.(syscall.Signal)
			if n == syscall.SIGCHLD {
				if code, done, err := s.handleExits(reap()); done {
					return code, err
				}
				continue
			}
			if !forwardable(n) {
				continue
			}
			if s.phase == stopping && stopsStartup(n) && !s.terminating {
				s.log.Info("stop signal during a restart; not restarting", "signal", SignalName(n))
				s.terminating = true
			}
			s.forward(n)
		case req, ok := <-requests:
			if !ok {
				requests = nil
				continue
			}
			s.handleRequest(req)
		case <-killC:
			s.killTimer = nil
			s.log.Warn("child did not stop in time; killing it", "timeout", s.cfg.StopTimeout)
			s.signalChild(syscall.SIGKILL)
		}
	}
}

func (s *Supervisor) handleRequest(req Request) {
	switch req.Kind {
	case Signal:
		if s.phase == stopping {
			return // a new child with fresh secrets is on its way
		}
		s.log.Info("secrets changed; signalling child", "changed", req.Reason, "signal", SignalName(req.Signal))
		s.signalChild(req.Signal)
	case Restart, Stop, Roll:
		if s.terminating {
			return
		}
		r := req
		s.next = &r
		if s.phase == stopping {
			return // the newest environment wins; the stop is under way
		}
		s.phase = stopping
		s.stopSent = time.Now()
		s.log.Info("secrets changed; stopping child", "changed", req.Reason,
			"signal", SignalName(s.cfg.StopSignal), "action", req.Kind.String())
		s.signalChild(s.cfg.StopSignal)
		s.killTimer = time.NewTimer(s.cfg.StopTimeout)
	}
}

func (k RequestKind) String() string {
	switch k {
	case Restart:
		return "restart"
	case Signal:
		return "signal"
	case Stop:
		return "exit"
	case Roll:
		return "rolling"
	}
	return "unknown"
}

// handleExits looks for the main child among reaped processes. done is true
// when hush should exit.
func (s *Supervisor) handleExits(exits []Exit) (code int, done bool, err error) {
	for _, e := range exits {
		if e.Pid != s.child.Pid {
			s.log.Debug("reaped orphan", "pid", e.Pid, "status", e.Code())
			continue
		}
		return s.childEnded(e)
	}
	return 0, false, nil
}

func (s *Supervisor) childEnded(e Exit) (int, bool, error) {
	s.stopKillTimer()
	s.child.Release()
	wasStopping := s.phase == stopping
	next := s.next
	s.next = nil
	if wasStopping && !s.terminating && next != nil && (next.Kind == Restart || next.Kind == Roll) {
		stopped := time.Since(s.stopSent)
		if err := s.spawn(next.Env); err != nil {
			return execErrorCode(err), true, err
		}
		s.log.Info("child restarted with new secrets", "pid", s.child.Pid,
			"old_status", e.Code(), "stop_took", stopped.Round(time.Millisecond),
			"since_change", time.Since(next.Since).Round(time.Millisecond))
		// For leak hunting: a rotation must leave nothing running behind.
		s.log.Debug("supervisor state", "goroutines", runtime.NumGoroutine())
		// The new child may already be gone too.
		return s.handleExits(reap())
	}
	code := e.Code()
	if wasStopping && !s.terminating && next != nil && next.Kind == Stop {
		code = ExitOnChange
	} else if s.cfg.RemapExit[code] {
		code = 0
	}
	s.log.Debug("child exited", "status", e.Code(), "exit", code)
	s.drain()
	return code, true, nil
}

func (s *Supervisor) stopKillTimer() {
	if s.killTimer != nil {
		s.killTimer.Stop()
		s.killTimer = nil
	}
}

func (s *Supervisor) forward(sig syscall.Signal) {
	if to, ok := s.cfg.Rewrite[sig]; ok {
		if to == 0 {
			s.log.Debug("dropped signal", "signal", SignalName(sig))
			return
		}
		sig = to
	}
	s.signalChild(sig)
}

func (s *Supervisor) signalChild(sig syscall.Signal) {
	var err error
	if s.cfg.ProcessGroup {
		err = unix.Kill(-s.child.Pid, sig)
	} else {
		// os.Process signals through a pidfd where the kernel has them,
		// so a recycled PID can never receive a signal meant for the child.
		err = s.child.Signal(sig)
	}
	if errors.Is(err, unix.EPERM) {
		// Only a missing capability explains EPERM towards our own child:
		// say so where it will be seen, or a `docker stop` just times out.
		s.log.Warn("cannot signal the child: operation not permitted "+
			"(signalling a child that runs as another user needs CAP_KILL)", "signal", SignalName(sig))
		return
	}
	if err != nil {
		s.log.Debug("signal not delivered", "signal", SignalName(sig), "err", err)
		return
	}
	s.log.Debug("forwarded signal", "signal", SignalName(sig), "group", s.cfg.ProcessGroup)
}

func (s *Supervisor) reapOrphans() {
	for _, e := range reap() {
		s.log.Debug("reaped orphan", "pid", e.Pid, "status", e.Code())
	}
}

// drain stops what the main child left behind; see the package documentation.
func (s *Supervisor) drain() {
	if s.cfg.Drain <= 0 {
		s.reapOrphans()
		return
	}
	left := descendants(s.self)
	if len(left) == 0 {
		s.reapOrphans()
		return
	}
	s.log.Info("draining remaining processes", "count", len(left), "signal", SignalName(s.cfg.StopSignal), "window", s.cfg.Drain)
	for _, pid := range left {
		_ = unix.Kill(pid, s.cfg.StopSignal)
	}
	if s.waitForDescendants(s.cfg.Drain) {
		return
	}
	left = descendants(s.self)
	s.log.Warn("processes still running after the drain window; killing them", "count", len(left))
	for _, pid := range left {
		_ = unix.Kill(pid, syscall.SIGKILL)
	}
	s.waitForDescendants(5 * time.Second)
}

// waitForDescendants reaps until no descendant is left or the window ends.
// Grandchildren are not our children until their parent dies, so no SIGCHLD
// announces them: /proc is polled, only during this bounded window.
func (s *Supervisor) waitForDescendants(window time.Duration) bool {
	deadline := time.NewTimer(window)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.reapOrphans()
		if len(descendants(s.self)) == 0 {
			s.reapOrphans()
			return true
		}
		select {
		case <-deadline.C:
			return false
		case <-s.sigs.C:
		case <-tick.C:
		}
	}
}
