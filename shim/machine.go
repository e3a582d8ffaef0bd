package shim

import (
	"context"
	"log/slog"
	"runtime"
	"syscall"
	"time"
)

// The restart logic is a state machine over generations. A generation is
// one start of the command with one environment: the child hush started
// (its leader) and everything the leader started. The machine decides; it
// touches no process itself. Starting, signalling, counting what is left of a
// generation, probing readiness and arming timers are injected (hooks), so
// that every transition can be tested without a real process
// (machine_test.go). The Supervisor feeds it events from its single loop:
// signals from outside, requests from the secret watcher, exits from the
// reaper and timers.

// genPhase is where one generation is in its life.
type genPhase int

const (
	// starting: a rolling restart started it while the previous
	// generation keeps serving; it is not ready yet.
	genStarting genPhase = iota
	// serving: the current generation.
	genServing
	// stopping: the stop signal went to the whole generation and the
	// stop timeout runs.
	genStopping
	// killed: the stop timeout ran out and the generation got SIGKILL.
	genKilled
)

// timerKind names what a timer of the machine is for.
type timerKind int

const (
	timerKill       timerKind = iota // --stop-timeout ran out
	timerKillGrace                   // SIGKILL did not end the generation
	timerReadyDelay                  // --ready-delay: ready by assumption
	timerReadyLimit                  // --ready-timeout ran out
	timerPoll                        // look again at what needs polling
)

// timerEvent is a timer that fired, for generation gen.
type timerEvent struct {
	gen  int
	kind timerKind
}

// hooks is everything the machine asks of the outside world. Generations
// are named by their id, never by pid: a pid is recycled once reaped, an id
// never is.
type hooks struct {
	// start starts generation id with env and returns its leader's pid.
	start func(id int, env []string) (pid int, err error)
	// forward delivers a signal meant for the child (from outside or
	// --on-change signal) to generation id's leader, or its group with -g.
	forward func(id int, sig syscall.Signal)
	// stop signals every live process of generation id.
	stop func(id int, sig syscall.Signal)
	// left counts the live processes of generation id.
	left func(id int) int
	// ready probes whether generation id has declared itself ready.
	ready func(id int) bool
	// release forgets generation id once it is gone.
	release func(id int)
	// adopt gives the generations ids the processes below hush that no
	// generation accounts for (see Supervisor.adopt).
	adopt func(ids []int)
	// after arms a timer; the event comes back through machine.timer.
	after func(d time.Duration, ev timerEvent) (cancel func())
	now   func() time.Time
}

// machineConfig is the part of Config the machine needs.
type machineConfig struct {
	stopSignal   syscall.Signal
	stopTimeout  time.Duration
	killGrace    time.Duration // how long SIGKILL may take before hush gives up on a process
	readyDelay   time.Duration // 0: no assumption, wait for a signal of readiness
	readyTimeout time.Duration
	pollEvery    time.Duration
	rewrite      map[syscall.Signal]syscall.Signal
	remapExit    map[int]bool
}

type generation struct {
	id         int
	pid        int
	phase      genPhase
	leaderDone bool
	code       int // the leader's status once leaderDone
	started    time.Time
	stopSent   time.Time
	cancels    []func()
	since      time.Time // when the change that made it was noticed
	changed    string    // what changed to make it, for its one log line
	// graceOver: SIGKILL was sent --kill grace ago and something of the
	// generation is still there; hush stops waiting for it.
	graceOver bool
}

// machine is the restart state machine. It is not safe for concurrent use:
// the Supervisor's single loop owns it.
type machine struct {
	cfg   machineConfig
	h     hooks
	log   *slog.Logger
	gens  []*generation // oldest first
	maxID int

	// pending is a restart or stop waiting for every generation to end.
	pending *Request
	// ending is set once hush is going to exit: an outside stop signal,
	// or the serving child ended on its own. No generation starts again.
	ending bool
	// decider is the generation whose status becomes hush's.
	decider *generation
	// stopped is set once a stop signal from outside was forwarded: the
	// container is being stopped, not just the child ending.
	stopped bool
	polling func() // cancels the armed poll timer; nil when none

	done   bool
	code   int
	err    error
	onStop bool // the end was --on-change exit
}

func newMachine(cfg machineConfig, h hooks, log *slog.Logger) *machine {
	return &machine{cfg: cfg, h: h, log: log}
}

// launch starts a generation in phase p.
func (m *machine) launch(env []string, p genPhase, since time.Time) (*generation, error) {
	// Whatever runs below hush now and belongs to no generation was
	// started by the serving one (a daemon that double-forked away): it
	// is recorded as that generation's before the new one exists, so that
	// it ends with it.
	var serving []int
	for _, g := range m.gens {
		if g.phase == genServing {
			serving = append(serving, g.id)
		}
	}
	if len(serving) > 0 {
		m.h.adopt(serving)
	}
	id := m.maxID + 1
	pid, err := m.h.start(id, env)
	if err != nil {
		return nil, err
	}
	m.maxID = id
	g := &generation{id: id, pid: pid, phase: p, started: m.h.now(), since: since}
	m.gens = append(m.gens, g)
	return g, nil
}

// startFirst starts the first generation.
func (m *machine) startFirst(env []string) error {
	_, err := m.launch(env, genServing, time.Time{})
	return err
}

// rewritten applies -r: the signal to forward for sig, and false when it is
// not forwarded. The rewrite table is consulted BEFORE the filter of signals
// that are not meant for the child, so that dumb-init's `-r TTIN:TERM`
// works: an explicit rewrite is the user saying what SIGTTIN means here.
func (m *machine) rewritten(sig syscall.Signal) (syscall.Signal, bool) {
	if to, ok := m.cfg.rewrite[sig]; ok {
		return to, to != 0
	}
	return sig, forwardable(sig)
}

// isStop reports whether sig asks the child to stop: SIGINT, SIGTERM,
// SIGQUIT (what docker stop, Ctrl-C and Ctrl-\ send) or --stop-signal.
func (m *machine) isStop(sig syscall.Signal) bool {
	return isStopSignal(sig) || sig == m.cfg.stopSignal
}

// signal handles a signal from outside (never SIGCHLD).
func (m *machine) signal(sig syscall.Signal) {
	to, ok := m.rewritten(sig)
	if !ok {
		m.log.Debug("signal not forwarded", "signal", SignalName(sig))
		return
	}
	if (m.isStop(sig) || m.isStop(to)) && !m.ending {
		// Whoever sent it wants the container to stop: from now on no
		// child may start, whether a rotation was pending, under way or
		// arrives later. The newest generation is the one the sender
		// meant, so its status becomes hush's.
		m.log.Info("stop signal received; no new child will start", "signal", SignalName(sig))
		m.end(m.newestLive())
		m.stopped = true
		m.pending = nil
	}
	// Every live generation gets it: during an overlap both serve, and
	// a stop must reach both.
	for _, g := range m.gens {
		if !g.leaderDone {
			m.h.forward(g.id, to)
		}
	}
	m.check()
}

// end marks hush as exiting with d's status.
func (m *machine) end(d *generation) {
	m.ending = true
	m.decider = d
}

func (m *machine) newestLive() *generation {
	for i := len(m.gens) - 1; i >= 0; i-- {
		if !m.gens[i].leaderDone {
			return m.gens[i]
		}
	}
	if len(m.gens) > 0 {
		return m.gens[len(m.gens)-1]
	}
	return nil
}

// request handles what a secret change asks for.
func (m *machine) request(req Request) {
	if m.ending {
		m.log.Info("secrets changed while hush is stopping; not acting on it", "changed", req.Reason)
		return
	}
	switch req.Kind {
	case Signal:
		if m.pending != nil {
			return // a new child with fresh secrets is on its way
		}
		m.log.Info("secrets changed; signalling child", "changed", req.Reason, "signal", SignalName(req.Signal))
		for _, g := range m.gens {
			if g.phase == genServing || g.phase == genStarting {
				m.h.forward(g.id, req.Signal)
			}
		}
	case Restart, Stop:
		r := req
		// The newest environment wins; a stop under way stays under way.
		m.pending = &r
		for _, g := range m.gens {
			if g.phase == genServing || g.phase == genStarting {
				// One info line per rotation: a restart reports when the
				// new child runs (afterGone); an exit is reported here,
				// as nothing follows it.
				level := slog.LevelDebug
				if req.Kind == Stop {
					level = slog.LevelInfo
				}
				m.log.Log(context.Background(), level, "secrets changed; stopping child", "changed", req.Reason,
					"signal", SignalName(m.cfg.stopSignal), "action", req.Kind.String())
				m.stopGen(g)
			}
		}
	case Roll:
		m.roll(req)
	}
	m.check()
}

// roll starts a new generation next to the serving one.
func (m *machine) roll(req Request) {
	// A rolling start still under way carries older secrets: it is
	// superseded rather than promoted.
	for _, g := range m.gens {
		if g.phase == genStarting {
			m.log.Info("a newer change supersedes the generation still starting", "generation", g.id)
			m.stopGen(g)
		}
	}
	g, err := m.launch(req.Env, genStarting, req.Since)
	if err != nil {
		// Never a broken or empty service: the serving generation keeps
		// its secrets and the next change tries again.
		m.log.Error("secrets changed but the new generation cannot start; the current one keeps serving",
			"changed", req.Reason, "err", err.Error())
		return
	}
	g.changed = req.Reason
	// Debug: the rotation's info line is written when it completes (ready).
	m.log.Debug("secrets changed; starting a new generation next to the current one",
		"changed", req.Reason, "generation", g.id, "pid", g.pid)
	g.cancels = append(g.cancels, m.h.after(m.cfg.readyTimeout, timerEvent{g.id, timerReadyLimit}))
	if m.cfg.readyDelay > 0 {
		g.cancels = append(g.cancels, m.h.after(m.cfg.readyDelay, timerEvent{g.id, timerReadyDelay}))
	}
	m.pollLater()
}

// stopGen sends the stop signal to the whole generation and arms its kill
// timer in the same step, so the timeout counts from the signal.
func (m *machine) stopGen(g *generation) {
	g.cancelTimers()
	g.phase = genStopping
	g.stopSent = m.h.now()
	m.h.stop(g.id, m.cfg.stopSignal)
	g.cancels = append(g.cancels, m.h.after(m.cfg.stopTimeout, timerEvent{g.id, timerKill}))
	m.pollLater()
}

func (g *generation) cancelTimers() {
	for _, c := range g.cancels {
		c()
	}
	g.cancels = nil
}

// exited handles a reaped process.
func (m *machine) exited(e Exit) {
	g := m.byPid(e.Pid)
	if g == nil {
		m.log.Debug("reaped orphan", "pid", e.Pid, "status", e.Code())
		return
	}
	g.leaderDone, g.code = true, e.Code()
	switch g.phase {
	case genServing:
		if !m.ending {
			// The child ended on its own: hush follows it, like tini.
			// A generation still starting would serve with nobody having
			// asked for it, so it is stopped too.
			m.end(g)
			for _, o := range m.gens {
				if o.phase == genStarting {
					m.stopGen(o)
				}
			}
		}
		m.gone(g)
	case genStarting:
		if m.ending {
			m.gone(g)
			break
		}
		m.log.Warn("the new generation exited before it was ready; the current one keeps serving",
			"generation", g.id, "status", g.code)
		m.stopGen(g)
		m.settle(g)
	case genStopping, genKilled:
		m.settle(g)
	}
	m.check()
}

// settle removes a stopping generation whose leader ended once nothing of it
// is left; otherwise polling looks again.
func (m *machine) settle(g *generation) {
	if m.h.left(g.id) == 0 || g.graceOver {
		m.gone(g)
		return
	}
	m.pollLater()
}

// gone removes generation g. Whatever it left running is stopped with it
// unless hush is exiting anyway (the drain handles that).
func (m *machine) gone(g *generation) {
	g.cancelTimers()
	for i, o := range m.gens {
		if o == g {
			m.gens = append(m.gens[:i], m.gens[i+1:]...)
			break
		}
	}
	m.h.release(g.id)
	if g == m.decider {
		m.code = g.code
	}
	if g.phase == genStopping || g.phase == genKilled {
		// goroutines is for leak hunting: a rotation must leave nothing
		// running behind.
		m.log.Debug("generation ended", "generation", g.id, "status", g.code,
			"stop_took", m.h.now().Sub(g.stopSent).Round(time.Millisecond),
			"goroutines", runtime.NumGoroutine())
	}
	m.afterGone(g)
}

// afterGone acts once a generation has ended: a pending restart starts when
// nothing of the old generations is left.
func (m *machine) afterGone(old *generation) {
	if m.ending || len(m.gens) > 0 || m.pending == nil {
		return
	}
	req := m.pending
	m.pending = nil
	if req.Kind == Stop {
		m.end(nil)
		m.onStop = true
		return
	}
	g, err := m.launch(req.Env, genServing, req.Since)
	if err != nil {
		m.end(nil)
		m.code, m.err = execErrorCode(err), err
		return
	}
	m.log.Info("child restarted with new secrets", "changed", req.Reason, "pid", g.pid,
		"old_status", old.code, "stop_took", m.h.now().Sub(old.stopSent).Round(time.Millisecond),
		"since_change", m.h.now().Sub(req.Since).Round(time.Millisecond))
	// For leak hunting: a rotation must leave nothing running behind.
	m.log.Debug("supervisor state", "goroutines", runtime.NumGoroutine())
}

// ready marks a starting generation ready: it becomes the serving one and
// the previous one is stopped.
func (m *machine) ready(g *generation, how string) {
	if g.phase != genStarting || m.ending {
		return
	}
	g.cancelTimers()
	g.phase = genServing
	m.log.Info("new generation ready; stopping the previous one", "changed", g.changed, "generation", g.id, "pid", g.pid, "ready_by", how,
		"took", m.h.now().Sub(g.started).Round(time.Millisecond),
		"since_change", m.h.now().Sub(g.since).Round(time.Millisecond))
	for _, o := range m.gens {
		if o != g && o.phase == genServing {
			m.stopGen(o)
		}
	}
	m.check()
}

// readyByID marks generation id ready if it is starting (READY=1 from one
// of its processes).
func (m *machine) readyByID(id int, how string) {
	if g := m.byID(id); g != nil && !g.leaderDone {
		m.ready(g, how)
	}
}

// timer handles a fired timer. A timer for a generation that has moved on
// is stale and ignored: the phase, not the timer, is the truth.
func (m *machine) timer(ev timerEvent) {
	if ev.kind == timerPoll {
		m.polling = nil
		m.poll()
		m.check()
		return
	}
	g := m.byID(ev.gen)
	if g == nil {
		return
	}
	switch {
	case ev.kind == timerKill && g.phase == genStopping:
		m.log.Warn("generation did not stop in time; killing it", "generation", g.id, "timeout", m.cfg.stopTimeout)
		g.phase = genKilled
		m.h.stop(g.id, syscall.SIGKILL)
		g.cancels = append(g.cancels, m.h.after(m.cfg.killGrace, timerEvent{g.id, timerKillGrace}))
		m.pollLater()
	case ev.kind == timerKillGrace && g.phase == genKilled:
		// Only an uninterruptible sleep survives SIGKILL this long; hush
		// does not wait (or poll) for it forever. A leader still there
		// is waited for: its exit status is owed to someone.
		m.log.Warn("processes of a killed generation are still there; going on without them", "generation", g.id, "left", m.h.left(g.id))
		g.graceOver = true
		if g.leaderDone {
			m.gone(g)
		}
	case ev.kind == timerReadyDelay && g.phase == genStarting:
		m.ready(g, "ready-delay")
	case ev.kind == timerReadyLimit && g.phase == genStarting:
		m.log.Warn("the new generation was not ready within --ready-timeout; stopping it, the current one keeps serving",
			"generation", g.id, "timeout", m.cfg.readyTimeout)
		m.stopGen(g)
	}
	m.check()
}

// poll probes readiness of starting generations and what is left of
// stopping ones whose leader ended, then re-arms itself while needed.
func (m *machine) poll() {
	for _, g := range append([]*generation(nil), m.gens...) {
		switch {
		case g.phase == genStarting && !g.leaderDone && m.h.ready(g.id):
			m.ready(g, "probe")
		case (g.phase == genStopping || g.phase == genKilled) && g.leaderDone:
			m.settle(g)
		}
	}
	m.pollLater()
}

// pollLater arms the poll timer if something needs polling. Polling only
// happens during a restart: an idle hush has no timer at all.
func (m *machine) pollLater() {
	if m.polling != nil {
		return
	}
	for _, g := range m.gens {
		if g.phase == genStarting || g.phase == genStopping || g.phase == genKilled {
			m.polling = m.h.after(m.cfg.pollEvery, timerEvent{kind: timerPoll})
			return
		}
	}
}

// check decides whether hush is done: it is ending and nothing is left.
func (m *machine) check() {
	if !m.ending || len(m.gens) > 0 || m.done {
		return
	}
	if m.polling != nil {
		m.polling()
		m.polling = nil
	}
	m.done = true
	switch {
	case m.err != nil:
	case m.onStop:
		m.code = ExitOnChange
	case m.cfg.remapExit[m.code]:
		m.code = 0
	}
}

// result reports whether hush is done and with what.
func (m *machine) result() (code int, done bool, err error) {
	return m.code, m.done, m.err
}

func (m *machine) byPid(pid int) *generation {
	for _, g := range m.gens {
		if g.pid == pid && !g.leaderDone {
			return g
		}
	}
	return nil
}

func (m *machine) byID(id int) *generation {
	for _, g := range m.gens {
		if g.id == id {
			return g
		}
	}
	return nil
}
