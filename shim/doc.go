// Package shim is hush's process supervisor: it starts ONE child, forwards
// signals to it, reaps every zombie, restarts, rolls over or signals the
// child when asked to, and turns the child's end into hush's exit status. It
// knows nothing about secrets: the caller hands it an environment to start
// with and, later, replacement environments.
//
// This comment is the overview of every PID-1 decision; the code carries the
// reason for each one where it is made (signals.go, supervisor.go,
// machine.go, reaper.go, descendants.go, spawn.go, user.go, listen.go,
// trampoline.go, notify.go, ready.go).
//
// Signals. Catch is called before anything else in main, before the child
// exists and before any secret is read: a Go process that has not called
// signal.Notify for SIGTERM dies from it, and as PID 1 of a namespace the
// kernel's default action is skipped entirely, so an early `docker stop` would
// otherwise either kill hush half-way or be lost. The channel is large (2048)
// because os/signal drops what does not fit and standard signals already
// coalesce in the kernel. Every catchable signal is caught and forwarded except:
//   - SIGCHLD, which only means "reap now";
//   - SIGURG, which the Go runtime sends to itself for goroutine preemption
//     (forwarding it would shower the child with signals it never asked for);
//   - SIGPROF, which the Go runtime consumes for its profiler before
//     os/signal sees it;
//   - 32, 33 and 34 (SIGRTMIN as kill -l counts), which the C libraries and
//     the Go runtime reserve: no Go program can catch them. When hush is not
//     PID 1 it ignores 34, so that a stray `kill -RTMIN` cannot kill it (as
//     PID 1 the kernel drops it anyway); the child then inherits SIG_IGN for
//     34. Real-time signals RTMIN+1 (35) to RTMAX (64) are forwarded;
//   - SIGTTIN and SIGTTOU, which the kernel sends to a background process that
//     touches the terminal: they describe hush's relation to the terminal, not
//     a request for the child, so they are dropped (as tini does), unless -r
//     rewrites them: -r applies first, as in dumb-init. Catching them keeps
//     hush from ever being stopped by them;
//   - signals that were ignored (SIG_IGN) when hush started, as far as a Go
//     program can tell: they are never caught, so they stay ignored in the
//     child, as with tini.
//
// What a Go program cannot tell. The runtime installs its own handlers
// before main runs, and remembers an inherited SIG_IGN only for SIGHUP and
// SIGINT (the ones nohup and shells set). So an inherited SIG_IGN of SIGHUP
// or SIGINT stays ignored in the child, but one of any other signal does
// not: the child starts with the default action. Likewise a signal blocked
// when hush started stays blocked in the child (the mask is carried across
// fork and exec), except the signals the runtime itself must receive, which
// it unblocks for good: SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGABRT, SIGCHLD,
// SIGPROF, SIGURG and the faults SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV,
// SIGSTKFLT and SIGSYS. Containers start their entrypoint with nothing ignored
// and nothing blocked, so this only matters when hush is started by a
// program that sets such state on purpose.
//
// SIGTSTP is forwarded like any other signal; hush itself never stops, so a
// `docker stop` keeps working while the child is stopped. SIGCONT is forwarded.
//
// Early signals. While the secrets are still being read there is no child
// yet. SIGINT, SIGTERM, SIGQUIT and --stop-signal mean "stop": with no child
// to stop, hush abandons the start-up at once and exits 128+N, so that
// `docker stop` against a container waiting on an unreachable secret manager
// is not held for the whole start-up deadline. Every other signal is logged
// and NOT forwarded later. Delivering it the instant the child exists would
// reach a process that has not installed its handlers yet, so a HUP meant as
// "reload" kills an app that traps HUP (default action), and USR1/USR2 do the
// same; and a child that is only starting has nothing to reload, reopen or
// resize, since it reads its configuration, log files and terminal size as
// it starts. tini is the reference for "forward everything", but tini forks
// its child at once and so never has this window; what a careful user of
// tini expects is that a signal never kills an app that handles it, which
// is what dropping keeps true here.
//
// Stop means stop. Once hush has forwarded SIGINT, SIGTERM, SIGQUIT or
// --stop-signal (received as such, or produced by -r), the container is
// stopping: a rotation that is pending or under way is abandoned, later
// changes are ignored, and hush exits with the child's status. Otherwise a
// `docker stop` that races a rotation would start a fresh child that Docker
// then has to SIGKILL.
//
// Reaping. reap (reaper.go) is the only caller of wait4 in the process. The
// supervisor's single event loop calls it on every SIGCHLD, once right after
// the first start (a fast child can exit before its SIGCHLD is read), and
// before it acts on any timer (so a stop timer never overtakes an exit that
// already happened); each call loops wait4(-1, WNOHANG) until nothing is
// left, because many children dying together raise one coalesced SIGCHLD.
// Every exit goes to the restart state machine, which tells generation
// leaders from orphans. os/exec's Wait and os.Process.Wait are never used: a
// second waiter races the first and whoever loses gets ECHILD instead of the
// exit status.
//
// Generations. Each start of the command is a generation: the child hush
// started and everything it started. The restart logic is a state machine
// over generations (machine.go; starting, serving, stopping, killed), with
// starting, signalling and timers injected so that every transition is
// table-tested without processes. A rotation restart ends the WHOLE old
// generation, with or without -g: --stop-signal to its process group, to its
// descendants and to the daemons seen earlier that left the group (setsid),
// then SIGKILL after --stop-timeout; the new child starts only when nothing
// of the old one is left, so no background process keeps running with old
// secrets. With --on-change rolling the new generation starts while the old
// one serves, and the old one is stopped once the new one is ready
// (READY=1 on its own NOTIFY_SOCKET from one of its processes, its epoll
// watching a --listen socket, or --ready-delay); a new generation that exits
// or is not ready within --ready-timeout is stopped and the old one keeps
// serving. Signals from outside go to every live generation; a stop signal
// ends hush with the newest generation's status.
//
// Sockets. With --listen, hush opens the sockets before the first child, as
// root, and passes the same ones to every generation at fds 3, 4, ... with
// LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID. LISTEN_PID must be the child's
// own pid, which only exists after fork; Go cannot run code between fork
// and exec, so the child is started through a trampoline (hush re-executed
// as hush-exec) that sets it and execs the command (trampoline.go).
//
// Process group. The child always gets its own process group (setpgid), so
// that -g can signal the whole group and so that a terminal can be handed to
// it. With -g, forwarded signals go to the group; without it, only to the child.
//
// Terminal. When stdin is a terminal and hush's process group owns it, the
// child's group is made the foreground group (tcsetpgrp), so that an
// interactive shell under `docker run -it` gets job control and Ctrl-C. hush
// never takes the terminal from someone else's foreground group, and a stdin
// that is not a terminal is not an error.
//
// Exit status. A child that exits with N makes hush exit N; a child killed by
// signal N makes hush exit 128+N (not WaitStatus.ExitStatus(), which is -1 for
// a signalled child). -e remapping applies after that conversion, so -e 143
// accepts a SIGTERM death. 126 and 127 are the shell's codes for "cannot
// execute" and "not found"; 125 is hush's own failure.
//
// Orphans at exit. By default hush exits as soon as the main child is reaped,
// like tini; as PID 1 the kernel then kills whatever is left. One exception:
// as PID 1, after hush forwarded a stop signal, it waits up to
// min(--stop-timeout, 5s) for the remaining processes (they were told by the
// signal, or by their parent), so that `npm start` exiting first does not cut
// node's clean shutdown short; it sends nothing more. With a drain window
// (--drain), hush first sends the stop signal to every remaining descendant
// (as PID 1: every process in the namespace), waits for them up to the
// window while still reaping, and SIGKILLs the rest.
package shim
