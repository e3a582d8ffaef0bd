package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/hushinit/hush/plan"
	"github.com/hushinit/hush/shim"
)

// Where --user names are looked up: the container's own files.
const (
	passwdFile = "/etc/passwd"
	groupFile  = "/etc/group"
)

// supervise is a whole run, top to bottom: plan, watch, start the child,
// act on rotations while supervising it, then join and clean up.
func supervise(ctx context.Context, sigs *shim.Signals, opts options, argv, environ []string, getenv func(string) string, log *slog.Logger) int {
	if os.Getpid() != 1 {
		log.Debug("hush is not PID 1: it makes itself a child subreaper so that orphans are still reaped",
			"pid", os.Getpid(), "parent", os.Getppid())
	}
	if err := shim.BecomeSubreaper(); err != nil {
		log.Warn("orphaned processes will not be reaped", "err", err)
	}
	var user *shim.User
	if opts.user != "" {
		u, err := shim.LookupUser(opts.user, passwdFile, groupFile)
		if err == nil {
			// Before any secret is read: a switch hush cannot make
			// must not surface later as the command's exec failing.
			err = u.CheckSwitch()
		}
		if err != nil {
			log.Error("cannot start", "err", "--user/HUSH_USER: "+err.Error())
			return shim.ExitHushFailed
		}
		user = &u
	}
	// The sockets are opened as root, before the child runs as --user, so
	// that an unprivileged child can serve a port below 1024.
	listeners, err := shim.Listen(opts.listen)
	if err != nil {
		log.Error("cannot start", "err", err.Error())
		return shim.ExitHushFailed
	}
	defer shim.CloseListeners(listeners)
	p, err := newPlan(opts, environ, argv, getenv, user, log)
	if err != nil {
		logError(log, "cannot start", err)
		return shim.ExitHushFailed
	}
	if p.HoldsSecrets() {
		// hush keeps the current values in memory for rotations: no core
		// dump, and no ptrace or /proc/PID/mem reading by processes
		// without CAP_SYS_PTRACE, even of the same user.
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
			log.Warn("cannot mark hush non-dumpable", "err", err.Error())
		}
	}
	if opts.onChange.Action == plan.ActionRolling && len(opts.listen) == 0 && opts.readyDelay == 0 {
		log.Warn("--on-change rolling without --listen or --ready-delay: a new generation counts as ready only " +
			"when it sends READY=1 to NOTIFY_SOCKET; otherwise every rotation ends at --ready-timeout with the old one kept")
	}
	code, err := superviseChild(ctx, p, sigs, opts, argv, user, listeners, log)
	if err != nil {
		logError(log, "cannot start", err)
	}
	return code
}

// superviseChild watches, starts the child and supervises it. When it
// returns, every goroutine it started has ended and p is closed.
func superviseChild(ctx context.Context, p *plan.Plan, sigs *shim.Signals, opts options,
	argv []string, user *shim.User, listeners []shim.Listener, log *slog.Logger) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer p.Close() // last: joins the backends' goroutines, then removes the secret files
	defer wg.Wait()
	defer cancel() // first: ends the watchers and Rotate

	watching, err := p.Watch(ctx)
	if err != nil {
		return shim.ExitHushFailed, err
	}
	sup := shim.New(shim.Config{
		Argv:         argv,
		ProcessGroup: opts.processGroup,
		RemapExit:    opts.remapExit,
		Rewrite:      opts.rewrite,
		User:         user,
		Drain:        opts.drain,
		StopSignal:   opts.stopSignal,
		StopTimeout:  opts.stopTimeout,
		ReadyDelay:   opts.readyDelay,
		ReadyTimeout: opts.readyTimeout,
		Listeners:    listeners,
		Notify:       opts.onChange.Action == plan.ActionRolling,
		NoNewPrivs:   opts.noNewPrivs,
		Logger:       log,
	}, sigs)
	code, started, err := sup.Start(ctx, p.Prepare)
	if !started {
		return code, misplacedOption(argv, code, err)
	}
	var requests chan shim.Request
	if watching {
		requests = make(chan shim.Request)
		wg.Go(func() { p.Rotate(ctx, requests) })
	}
	return sup.Supervise(requests)
}

// misplacedOption adds a hint when the command hush could not find is one
// of hush's own options: `docker run IMAGE --deliver file app` puts options
// after the image's ENTRYPOINT ["hush", "--"].
func misplacedOption(argv []string, code int, err error) error {
	if err == nil || code != shim.ExitNotFound || len(argv) == 0 || !isOption(argv[0]) {
		return err
	}
	return fmt.Errorf("%w; %s is an option of hush, and options go before \"--\" "+
		"(ENTRYPOINT [\"hush\", \"%s\", ..., \"--\"]) or into HUSH_* variables (%s=...)",
		err, argv[0], argv[0], optionEnvName(argv[0]))
}

func newPlan(opts options, environ, argv []string, getenv func(string) string, user *shim.User, log *slog.Logger) (*plan.Plan, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	var owner *plan.Owner
	if user != nil {
		owner = &plan.Owner{UID: int(user.UID), GID: int(user.GID)}
	}
	return plan.New(plan.Config{
		Environ:        environ,
		Argv:           argv,
		Backends:       registerBackends(backendConfig{workDir: wd, getenv: getenv, opts: opts, log: log}),
		FileEnv:        opts.fileEnv,
		KeepEnv:        opts.keepEnv,
		DeliverFiles:   opts.deliver == "file",
		FilesDir:       opts.filesDir,
		Owner:          owner,
		OnChange:       opts.onChange,
		StartupTimeout: opts.startupTimeout,
		PollInterval:   opts.pollInterval,
		Debounce:       opts.debounce,
		Splay:          opts.splay,
		Logger:         log,
	}), nil
}
