package main

import (
	"context"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hushinit/hush/shim"
)

// Where --user names are looked up: the container's own files.
const (
	passwdFile = "/etc/passwd"
	groupFile  = "/etc/group"
)

func supervise(ctx context.Context, sigs *shim.Signals, opts options, argv, environ []string, getenv func(string) string, log *slog.Logger) int {
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
	wd, err := os.Getwd()
	if err != nil {
		log.Error("cannot start", "err", err.Error())
		return shim.ExitHushFailed
	}
	plan, err := newSecretPlan(opts, environ, getenv, wd, user, log)
	if err != nil {
		logError(log, "cannot start", err)
		return shim.ExitHushFailed
	}
	defer plan.Close()
	if plan.holdsSecrets() {
		// hush keeps the current values in memory for rotations: no core
		// dump, and no ptrace or /proc/PID/mem reading by processes
		// without CAP_SYS_PTRACE, even of the same user.
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
			log.Warn("cannot mark hush non-dumpable", "err", err.Error())
		}
	}
	if opts.onChange.action == "signal" && opts.deliver == "env" && plan.hasEnvDelivered() {
		log.Warn("--on-change signal cannot change environment variables of a running process; " +
			"only secrets delivered as files (--deliver file or ?as=file) will reach the child")
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
		Logger:       log,
	}, sigs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	requests, err := plan.watch(ctx)
	if err != nil {
		logError(log, "cannot start", err)
		return shim.ExitHushFailed
	}
	code, err := sup.Run(ctx, plan.firstEnvironment, requests)
	if err != nil {
		logError(log, "cannot start", err)
	}
	return code
}
