package shim

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// world is a fake of everything the machine touches: processes are numbers,
// timers are a list, and every action is written down.
type world struct {
	t        *testing.T
	pids     map[int]int // generation id -> leader pid
	left     map[int]int // generation id -> live processes
	isReady  map[int]bool
	armed    []timerEvent
	actions  []string
	startErr error
	now      time.Time
	adopted  [][]int
}

func newWorld(t *testing.T) *world {
	return &world{t: t, pids: map[int]int{}, left: map[int]int{}, isReady: map[int]bool{}, now: time.Unix(1000, 0)}
}

func (w *world) act(format string, args ...any) {
	w.actions = append(w.actions, fmt.Sprintf(format, args...))
}

func (w *world) hooks() hooks {
	return hooks{
		start: func(id int, env []string) (int, error) {
			if w.startErr != nil {
				w.act("start %d failed", id)
				return 0, w.startErr
			}
			w.pids[id] = 100 + id
			w.left[id] = 1
			w.act("start %d %s", id, strings.Join(env, ","))
			return 100 + id, nil
		},
		forward: func(id int, sig syscall.Signal) { w.act("forward %d %s", id, SignalName(sig)) },
		stop: func(id int, sig syscall.Signal) {
			w.act("stop %d %s", id, SignalName(sig))
		},
		left:    func(id int) int { return w.left[id] },
		ready:   func(id int) bool { return w.isReady[id] },
		release: func(id int) { w.act("release %d", id) },
		adopt:   func(ids []int) { w.adopted = append(w.adopted, ids) },
		after: func(d time.Duration, ev timerEvent) func() {
			w.armed = append(w.armed, ev)
			return func() {
				if i := slices.Index(w.armed, ev); i >= 0 {
					w.armed = slices.Delete(w.armed, i, i+1)
				}
			}
		},
		now: func() time.Time { return w.now },
	}
}

// A step is one thing that happens to the machine.
type step func(m *machine, w *world)

func sig(n syscall.Signal) step { return func(m *machine, w *world) { m.signal(n) } }

func req(kind RequestKind, env string) step {
	return func(m *machine, w *world) { m.request(Request{Kind: kind, Env: []string{env}, Signal: syscall.SIGHUP}) }
}

// exits makes generation id's leader exit with status code (128+N: killed
// by signal N); the rest of the generation keeps `others` processes.
func exits(id, code, others int) step {
	return func(m *machine, w *world) {
		w.left[id] = others
		ws := unix.WaitStatus(code << 8)
		if code > 128 {
			ws = unix.WaitStatus(code - 128)
		}
		m.exited(Exit{Pid: w.pids[id], Status: ws})
	}
}

// leftover sets what is left of generation id (the leader's exit is
// separate).
func leftover(id, n int) step { return func(m *machine, w *world) { w.left[id] = n } }

// fire fires an armed timer; the test fails if it is not armed (a cancelled
// timer cannot fire).
func fire(id int, kind timerKind) step {
	return func(m *machine, w *world) {
		ev := timerEvent{gen: id, kind: kind}
		if kind == timerPoll {
			ev.gen = 0
		}
		i := slices.Index(w.armed, ev)
		if i < 0 {
			w.t.Fatalf("timer %+v is not armed (armed: %+v)", ev, w.armed)
		}
		w.armed = slices.Delete(w.armed, i, i+1)
		m.timer(ev)
	}
}

// stale fires a timer that is no longer armed, as a timer whose Stop came
// too late would.
func stale(id int, kind timerKind) step {
	return func(m *machine, w *world) { m.timer(timerEvent{gen: id, kind: kind}) }
}

func becomesReady(id int) step {
	return func(m *machine, w *world) { w.isReady[id] = true }
}

func startFails(m *machine, w *world) { w.startErr = errors.New("exec failed") }

func TestMachine(t *testing.T) {
	t.Parallel()
	term := syscall.SIGTERM
	tests := []struct {
		name    string
		cfg     func(*machineConfig)
		steps   []step
		actions []string // after the first start
		done    bool
		code    int
	}{
		{
			name:  "child dies on its own",
			steps: []step{exits(1, 3, 0)},
			actions: []string{
				"release 1",
			},
			done: true, code: 3,
		},
		{
			name:    "remapped exit status",
			cfg:     func(c *machineConfig) { c.remapExit = map[int]bool{143: true} },
			steps:   []step{sig(term), exits(1, 143, 0)},
			actions: []string{"forward 1 SIGTERM", "release 1"},
			done:    true, code: 0,
		},
		{
			name:    "signals are forwarded, SIGTTIN is not",
			steps:   []step{sig(syscall.SIGHUP), sig(syscall.SIGTTIN), sig(syscall.SIGUSR1)},
			actions: []string{"forward 1 SIGHUP", "forward 1 SIGUSR1"},
		},
		{
			name:    "rewrite applies before the filter: TTIN:TERM",
			cfg:     func(c *machineConfig) { c.rewrite = map[syscall.Signal]syscall.Signal{syscall.SIGTTIN: term} },
			steps:   []step{sig(syscall.SIGTTIN), exits(1, 0, 0), sig(syscall.SIGHUP)},
			actions: []string{"forward 1 SIGTERM", "release 1"},
			done:    true,
		},
		{
			name:    "a rewrite to 0 drops the signal and is no stop",
			cfg:     func(c *machineConfig) { c.rewrite = map[syscall.Signal]syscall.Signal{term: 0} },
			steps:   []step{sig(term), req(Restart, "B=2")},
			actions: []string{"stop 1 SIGTERM"},
		},
		{
			name:  "restart: stop requested, stopped, new child",
			steps: []step{req(Restart, "B=2"), exits(1, 0, 0)},
			actions: []string{
				"stop 1 SIGTERM",
				"release 1",
				"start 2 B=2",
			},
		},
		{
			name:  "restart waits for what the old generation left",
			steps: []step{req(Restart, "B=2"), exits(1, 0, 2), fire(0, timerPoll), leftover(1, 0), fire(0, timerPoll)},
			actions: []string{
				"stop 1 SIGTERM",
				"release 1",
				"start 2 B=2",
			},
		},
		{
			name:  "restart: timed out, killed",
			steps: []step{req(Restart, "B=2"), fire(1, timerKill), exits(1, 137, 0)},
			actions: []string{
				"stop 1 SIGTERM",
				"stop 1 SIGKILL",
				"release 1",
				"start 2 B=2",
			},
		},
		{
			name:  "an exit before the kill timer cancels it",
			steps: []step{req(Restart, "B=2"), exits(1, 0, 0), stale(1, timerKill)},
			actions: []string{
				"stop 1 SIGTERM",
				"release 1",
				"start 2 B=2",
			},
		},
		{
			name:  "the newest environment wins during a stop",
			steps: []step{req(Restart, "B=2"), req(Restart, "B=3"), exits(1, 0, 0)},
			actions: []string{
				"stop 1 SIGTERM",
				"release 1",
				"start 2 B=3",
			},
		},
		{
			name:  "external stop during a restart: no new child, child's status",
			steps: []step{req(Restart, "B=2"), sig(term), exits(1, 7, 0)},
			actions: []string{
				"stop 1 SIGTERM",
				"forward 1 SIGTERM",
				"release 1",
			},
			done: true, code: 7,
		},
		{
			name:  "external stop before a rotation: the rotation is ignored",
			steps: []step{sig(syscall.SIGINT), req(Restart, "B=2"), exits(1, 130, 0)},
			actions: []string{
				"forward 1 SIGINT",
				"release 1",
			},
			done: true, code: 130,
		},
		{
			name:    "--stop-signal from outside is a stop",
			cfg:     func(c *machineConfig) { c.stopSignal = syscall.SIGWINCH },
			steps:   []step{sig(syscall.SIGWINCH), req(Restart, "B=2"), exits(1, 0, 0)},
			actions: []string{"forward 1 SIGWINCH", "release 1"},
			done:    true,
		},
		{
			name:    "--on-change exit",
			steps:   []step{req(Stop, ""), exits(1, 143, 0)},
			actions: []string{"stop 1 SIGTERM", "release 1"},
			done:    true, code: ExitOnChange,
		},
		{
			name:    "--on-change signal",
			steps:   []step{req(Signal, "")},
			actions: []string{"forward 1 SIGHUP"},
		},
		{
			name:    "the restarted child cannot start",
			steps:   []step{startFails, req(Restart, "B=2"), exits(1, 0, 0)},
			actions: []string{"stop 1 SIGTERM", "release 1", "start 2 failed"},
			done:    true, code: ExitHushFailed,
		},
		{
			name:  "rolling: ready by probe, old one stopped",
			steps: []step{req(Roll, "B=2"), becomesReady(2), fire(0, timerPoll), exits(1, 0, 0)},
			actions: []string{
				"start 2 B=2",
				"stop 1 SIGTERM",
				"release 1",
			},
		},
		{
			name:    "rolling: ready by --ready-delay",
			cfg:     func(c *machineConfig) { c.readyDelay = time.Second },
			steps:   []step{req(Roll, "B=2"), fire(2, timerReadyDelay), exits(1, 0, 0)},
			actions: []string{"start 2 B=2", "stop 1 SIGTERM", "release 1"},
		},
		{
			name:  "rolling: the new one crashes, the old keeps serving",
			steps: []step{req(Roll, "B=2"), exits(2, 1, 0), sig(syscall.SIGHUP)},
			actions: []string{
				"start 2 B=2",
				"stop 2 SIGTERM",
				"release 2",
				"forward 1 SIGHUP",
			},
		},
		{
			name:  "rolling: never ready, stopped at --ready-timeout; the next change retries",
			steps: []step{req(Roll, "B=2"), fire(2, timerReadyLimit), exits(2, 143, 0), req(Roll, "B=3")},
			actions: []string{
				"start 2 B=2",
				"stop 2 SIGTERM",
				"release 2",
				"start 3 B=3",
			},
		},
		{
			name:    "rolling: the new one cannot start, the old keeps serving",
			steps:   []step{startFails, req(Roll, "B=2"), sig(syscall.SIGHUP)},
			actions: []string{"start 2 failed", "forward 1 SIGHUP"},
		},
		{
			name:  "rolling: a newer change supersedes the one starting",
			steps: []step{req(Roll, "B=2"), req(Roll, "B=3"), becomesReady(3), fire(0, timerPoll)},
			actions: []string{
				"start 2 B=2",
				"stop 2 SIGTERM",
				"start 3 B=3",
				"stop 1 SIGTERM",
			},
		},
		{
			name:  "rolling: signals during the overlap go to both",
			steps: []step{req(Roll, "B=2"), sig(syscall.SIGUSR1)},
			actions: []string{
				"start 2 B=2",
				"forward 1 SIGUSR1",
				"forward 2 SIGUSR1",
			},
		},
		{
			name: "rolling: SIGTERM during the overlap stops both, newest status",
			steps: []step{req(Roll, "B=2"), sig(term), exits(1, 143, 0), exits(2, 0, 0),
				req(Roll, "B=3")},
			actions: []string{
				"start 2 B=2",
				"forward 1 SIGTERM",
				"forward 2 SIGTERM",
				"release 1",
				"release 2",
			},
			done: true, code: 0,
		},
		{
			name:  "rolling: the old one dies on its own during the overlap",
			steps: []step{req(Roll, "B=2"), exits(1, 9, 0), exits(2, 143, 0)},
			actions: []string{
				"start 2 B=2",
				"stop 2 SIGTERM",
				"release 1",
				"release 2",
			},
			done: true, code: 9,
		},
		{
			name: "rolling: the old one ignores the stop and is killed",
			steps: []step{req(Roll, "B=2"), becomesReady(2), fire(0, timerPoll), fire(1, timerKill),
				exits(1, 137, 0)},
			actions: []string{
				"start 2 B=2",
				"stop 1 SIGTERM",
				"stop 1 SIGKILL",
				"release 1",
			},
		},
		{
			name: "an unkillable leftover is given up after the grace",
			steps: []step{req(Restart, "B=2"), exits(1, 0, 1), fire(1, timerKill),
				fire(1, timerKillGrace)},
			actions: []string{
				"stop 1 SIGTERM",
				"stop 1 SIGKILL",
				"release 1",
				"start 2 B=2",
			},
		},
		{
			name: "a leftover of a killed generation whose leader dies after the grace",
			steps: []step{req(Restart, "B=2"), fire(1, timerKill), fire(1, timerKillGrace),
				exits(1, 137, 1)},
			actions: []string{
				"stop 1 SIGTERM",
				"stop 1 SIGKILL",
				"release 1",
				"start 2 B=2",
			},
		},
		{
			name:    "an orphan's exit is not the child's",
			steps:   []step{func(m *machine, w *world) { m.exited(Exit{Pid: 555}) }},
			actions: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := machineConfig{
				stopSignal:   syscall.SIGTERM,
				stopTimeout:  10 * time.Second,
				killGrace:    5 * time.Second,
				readyTimeout: time.Minute,
				pollEvery:    25 * time.Millisecond,
			}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			w := newWorld(t)
			m := newMachine(cfg, w.hooks(), slog.New(slog.DiscardHandler))
			if err := m.startFirst([]string{"A=1"}); err != nil {
				t.Fatal(err)
			}
			w.actions = nil
			for _, s := range tt.steps {
				s(m, w)
			}
			if !slices.Equal(w.actions, tt.actions) {
				t.Errorf("actions:\n  %s\nwant:\n  %s", strings.Join(w.actions, "\n  "), strings.Join(tt.actions, "\n  "))
			}
			code, done, _ := m.result()
			if done != tt.done || (done && code != tt.code) {
				t.Errorf("result = (code %d, done %v), want (code %d, done %v)", code, done, tt.code, tt.done)
			}
			for _, ids := range w.adopted {
				if len(ids) != 1 {
					t.Errorf("strays adopted by %v: want exactly the serving generation", ids)
				}
			}
			if done && len(w.armed) != 0 {
				t.Errorf("timers left armed after the end: %+v", w.armed)
			}
		})
	}
}
