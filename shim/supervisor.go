package shim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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
	ReadyDelay   time.Duration                     // rolling: ready this long after start; 0 = never by time
	ReadyTimeout time.Duration                     // rolling: not ready by then = stopped; 0 = 60s
	Listeners    []Listener                        // --listen: passed to every child as fds 3, 4, ...
	Notify       bool                              // give each generation a NOTIFY_SOCKET
	NoNewPrivs   bool                              // --no-new-privs
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

// Supervisor owns the children, the reaper and the signal subscription. Its
// single loop turns what happens (signals, requests, exits, timers) into
// events for the restart state machine (machine.go) and carries out what
// the machine decides.
type Supervisor struct {
	cfg        Config
	sigs       *Signals
	log        *slog.Logger
	self       int
	foreground bool
	files      []*os.File

	m      *machine
	procs  map[int]*procGen // by generation id
	timers chan timerEvent
	notes  chan notifyMsg
	exe    string          // hush's binary, for the trampoline
	inodes map[uint64]bool // the listening sockets, to see them in a child's epoll
}

// procGen is what the supervisor knows of one generation's processes.
type procGen struct {
	leader *os.Process
	pid    int
	// known are the generation's processes seen at earlier looks, so that
	// a daemon that left the group is still found once its parent died.
	known  []member
	notify *notifySocket
	// warnedProc: the epoll probe was refused once and said so.
	warnedProc bool
}

// New prepares a supervisor. sigs must come from Catch, called earlier.
func New(cfg Config, sigs *Signals) *Supervisor {
	if cfg.StopSignal == 0 {
		cfg.StopSignal = syscall.SIGTERM
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Supervisor{
		cfg:        cfg,
		sigs:       sigs,
		log:        cfg.Logger,
		self:       os.Getpid(),
		foreground: ownsTerminal(),
		files:      inheritedFiles(),
		procs:      map[int]*procGen{},
		// Timers are few (a handful per generation); the buffer means a
		// timer never blocks on a loop that has returned.
		timers: make(chan timerEvent, 256),
		notes:  make(chan notifyMsg, 16),
		exe:    selfExe(),
		inodes: map[uint64]bool{},
	}
	if len(cfg.Listeners) > 0 {
		// Only hush's own sockets are passed, at 3, 4, ... in the order
		// given: a descriptor hush inherited would collide with them, and
		// a socket hush did not open is not its to hand on.
		// Descriptors hush inherited stay open in hush but must not
		// reach the child: StartProcess only closes what is close-on-exec.
		for _, f := range s.files[3:] {
			if f != nil {
				unix.CloseOnExec(int(f.Fd()))
			}
		}
		s.files = []*os.File{os.Stdin, os.Stdout, os.Stderr}
		for _, l := range cfg.Listeners {
			s.files = append(s.files, l.File)
			s.inodes[l.Inode] = true
		}
	}
	s.m = newMachine(machineConfig{
		stopSignal:   cfg.StopSignal,
		stopTimeout:  cfg.StopTimeout,
		killGrace:    5 * time.Second,
		readyDelay:   cfg.ReadyDelay,
		readyTimeout: cfg.ReadyTimeout,
		pollEvery:    25 * time.Millisecond,
		rewrite:      cfg.Rewrite,
		remapExit:    cfg.RemapExit,
	}, hooks{
		start:   s.startGen,
		forward: s.forwardGen,
		stop:    s.stopGen,
		left:    s.leftOf,
		ready:   s.probeReady,
		release: s.release,
		adopt:   s.adopt,
		after:   s.after,
		now:     time.Now,
	}, cfg.Logger)
	return s
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
	for {
		select {
		case sig := <-s.sigs.C:
			n := sig.(syscall.Signal)
			switch {
			case n == syscall.SIGCHLD:
				s.reapOrphans()
			case s.m.isStop(n):
				s.log.Info("stop signal before the child started; not starting it", "signal", SignalName(n))
				join()
				return 128 + int(n), false, nil
			case forwardable(n):
				// Dropped, not kept for later: a signal delivered the
				// instant the child exists arrives before it could
				// install a handler, so a HUP meant as "reload" would
				// kill it (default action). A child that has not started
				// has nothing to reload, reopen or resize: it reads its
				// configuration, logs and terminal size when it starts.
				// tini never has this window (it forks at once); see
				// the package documentation.
				s.log.Info("signal before the child started; not forwarded (the child starts with the current state)",
					"signal", SignalName(n))
			}
		case p := <-ready:
			if p.err != nil {
				return ExitHushFailed, false, p.err
			}
			if err := s.m.startFirst(p.env); err != nil {
				return execErrorCode(err), false, err
			}
			return 0, true, nil
		}
	}
}

func execErrorCode(err error) int {
	var ee *ExecError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitHushFailed
}

// startGen starts the leader of generation id.
func (s *Supervisor) startGen(id int, env []string) (int, error) {
	if s.cfg.User != nil {
		env = withHome(env, s.cfg.User.Home)
	}
	var tramp []string
	if len(s.cfg.Listeners) > 0 {
		env = listenEnv(env, s.cfg.Listeners)
		tramp = append(tramp, "listen-pid")
	}
	if s.cfg.NoNewPrivs {
		tramp = append(tramp, "no-new-privs")
	}
	var notify *notifySocket
	if s.cfg.Notify {
		n, err := newNotifySocket(id, s.notes)
		if err != nil {
			return 0, &ExecError{Command: s.cfg.Argv[0], Code: ExitHushFailed, Err: err}
		}
		notify = n
		env = append(withoutVars(env, "NOTIFY_SOCKET"), "NOTIFY_SOCKET="+n.addr)
	}
	proc, err := start(spec{
		argv:       s.cfg.Argv,
		env:        env,
		user:       s.cfg.User,
		foreground: s.foreground,
		files:      s.files,
		trampoline: tramp,
		exe:        s.exe,

		reservedIgnored: s.sigs.reservedIgnored,
	})
	if err != nil {
		notify.close()
		return 0, err
	}
	s.procs[id] = &procGen{leader: proc, pid: proc.Pid, notify: notify}
	s.log.Debug("child started", "pid", proc.Pid, "generation", id)
	return proc.Pid, nil
}

// adopt runs just before a generation starts, for the serving
// generations ids. A process below hush that is in no generation's process
// group nor below any generation's leader, and was not seen as a member
// before, is a daemon that double-forked away (re-parented to hush, in a
// session of its own). Such a process is older than the generation about to
// start, so it has older secrets; once two generations run side by side
// nothing else ties it to the serving one, so it is recorded as that one's,
// to be stopped with it.
func (s *Supervisor) adopt(ids []int) {
	procs := readProcs()
	owned := map[int]bool{}
	for _, p := range s.procs {
		for _, mb := range generationMembers(procs, s.self, p.pid, p.known, false) {
			owned[mb.pid] = true
		}
	}
	// A walk down from hush, even as PID 1: a `docker exec` shell is in
	// the namespace but not below hush, and is nobody's generation.
	var strays []member
	for _, mb := range generationMembers(procs, s.self, -1, nil, true) {
		if !owned[mb.pid] {
			strays = append(strays, mb)
		}
	}
	for _, id := range ids {
		if p := s.procs[id]; p != nil {
			p.known = append(p.known, strays...)
		}
	}
}

// release forgets generation id once the machine is done with it.
func (s *Supervisor) release(id int) {
	if p := s.procs[id]; p != nil {
		p.leader.Release()
		p.notify.close()
	}
	delete(s.procs, id)
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
	s.reapAll()
	for {
		if code, done, err := s.m.result(); done {
			s.drain(s.m.stopped)
			return code, err
		}
		select {
		case sig := <-s.sigs.C:
			n := sig.(syscall.Signal)
			if n == syscall.SIGCHLD {
				s.reapAll()
				continue
			}
			s.m.signal(n)
		case req, ok := <-requests:
			if !ok {
				requests = nil
				continue
			}
			s.m.request(req)
		case n := <-s.notes:
			// Only a process of that generation may declare it ready.
			if s.isMember(n.gen, n.pid) {
				s.m.readyByID(n.gen, "notify")
			} else {
				s.log.Debug("READY=1 from a process outside the generation ignored", "generation", n.gen, "pid", n.pid)
			}
		case ev := <-s.timers:
			s.onTimer(ev)
		}
	}
}

// onTimer handles a fired timer, exits first: when a stop timer and the
// child's SIGCHLD are ready together, select picks either, and the SIGCHLD
// may not even have reached the channel yet. Reaping before the timer is
// looked at means a child that exited in time is never reported (or
// SIGKILLed) as late, and the status recorded is the one it exited with
// (issue 15 item 10).
func (s *Supervisor) onTimer(ev timerEvent) {
	s.reapAll()
	s.m.timer(ev)
}

// reapAll hands every reaped process to the machine, which tells
// generation leaders from orphans. It is the loop's only use of reap.
func (s *Supervisor) reapAll() {
	for _, e := range reap() {
		s.m.exited(e)
	}
}

// after arms a timer whose event comes back to the loop.
func (s *Supervisor) after(d time.Duration, ev timerEvent) func() {
	t := time.AfterFunc(d, func() {
		select {
		case s.timers <- ev:
		default:
			// Only reachable with hundreds of timers due at once; the
			// poll timer re-arms and the kill timers are one per
			// generation, so nothing is lost that matters.
		}
	})
	return func() { t.Stop() }
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

// forwardGen delivers a signal meant for the child to generation id: its
// leader, or with -g its whole process group.
func (s *Supervisor) forwardGen(id int, sig syscall.Signal) {
	p := s.procs[id]
	if p == nil {
		return
	}
	var err error
	if s.cfg.ProcessGroup {
		err = unix.Kill(-p.pid, sig)
	} else {
		// os.Process signals through a pidfd where the kernel has them,
		// so a recycled PID can never receive a signal meant for the child.
		err = p.leader.Signal(sig)
	}
	s.reportSignal(sig, err)
}

func (s *Supervisor) reportSignal(sig syscall.Signal, err error) {
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

// members looks at /proc for what is left of generation id. When it is the
// only generation, every process below hush belongs to it: a restart ends
// the old generation whole, daemons that double-forked away included.
func (s *Supervisor) members(id int) []member {
	p := s.procs[id]
	if p == nil {
		return nil
	}
	p.known = generationMembers(readProcs(), s.self, p.pid, p.known, len(s.procs) == 1)
	return p.known
}

// stopGen sends sig to every process of generation id, with or without -g:
// a rotation must not leave the old generation's background processes
// running with the old secrets (issue 10 item 8).
func (s *Supervisor) stopGen(id int, sig syscall.Signal) {
	p := s.procs[id]
	if p == nil {
		return
	}
	// The leader through its pidfd (a zombie not yet reaped is fine);
	// the others by pid, right after the look at /proc that found them
	// with their start time.
	s.reportSignal(sig, p.leader.Signal(sig))
	for _, mb := range s.members(id) {
		if mb.pid != p.pid {
			_ = unix.Kill(mb.pid, sig)
		}
	}
}

// leftOf counts the live processes of generation id.
func (s *Supervisor) leftOf(id int) int {
	return len(s.members(id))
}

// isMember reports whether pid is a live process of generation id.
func (s *Supervisor) isMember(id, pid int) bool {
	for _, mb := range s.members(id) {
		if mb.pid == pid {
			return true
		}
	}
	return false
}

// probeReady reports whether a process of generation id polls one of the
// listening sockets (ready.go). READY=1 arrives by itself (notes).
func (s *Supervisor) probeReady(id int) bool {
	if len(s.inodes) == 0 {
		return false
	}
	p := s.procs[id]
	for _, mb := range s.members(id) {
		polls, denied := pollsListener(mb.pid, s.inodes)
		if polls {
			return true
		}
		if denied && p != nil && !p.warnedProc {
			p.warnedProc = true
			s.log.Warn("cannot see whether the new generation accepts on its socket: /proc refused to show its "+
				"descriptors (a non-dumpable process, mixed user ids, or hush not root and without CAP_SYS_PTRACE); "+
				"have the app send READY=1 or set --ready-delay", "generation", id, "pid", mb.pid)
		}
	}
	return false
}

func (s *Supervisor) reapOrphans() {
	for _, e := range reap() {
		s.log.Debug("reaped orphan", "pid", e.Pid, "status", e.Code())
	}
}

// stopGrace bounds how long hush, as PID 1, waits for the rest of the
// container after a stop signal when no --drain is set: well inside
// Docker's default 10 s, so that hush still exits with the child's status
// rather than being SIGKILLed with everything else.
const stopGrace = 5 * time.Second

// drain stops what the main child left behind; see the package documentation.
// stopping says whether a stop signal from outside was forwarded.
func (s *Supervisor) drain(stopping bool) {
	if s.cfg.Drain <= 0 {
		if stopping && s.self == 1 {
			s.graceAfterStop()
		}
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

// graceAfterStop gives the rest of the container a bounded chance to
// finish after a stop signal. As PID 1, hush's exit makes the kernel SIGKILL
// every other process of the namespace at once. Under `npm start` with -g,
// docker stop's SIGTERM reaches npm and node together; npm exits first and,
// without this wait, node is killed in the middle of its clean shutdown.
// hush sends nothing here: everyone was already told by the stop signal
// (or by their parent); it only waits, up to min(--stop-timeout, 5s).
func (s *Supervisor) graceAfterStop() {
	if len(descendants(s.self)) == 0 {
		return
	}
	window := min(s.cfg.StopTimeout, stopGrace)
	s.log.Info("waiting for the rest of the container to finish", "count", len(descendants(s.self)), "window", window)
	if !s.waitForDescendants(window) {
		s.log.Warn("processes still running after the stop grace; they end with hush", "count", len(descendants(s.self)))
	}
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
			// Only wakes the loop: the child is gone, there is nobody
			// to forward to.
		case <-tick.C:
		}
	}
}
