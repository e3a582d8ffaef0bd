package plan

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"

	"github.com/hushinit/hush/shim"
	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/rotation"
)

// The --on-change actions.
const (
	ActionRestart = "restart" // stop the child, start a new one
	ActionRolling = "rolling" // start the new one, then stop the old one
	ActionSignal  = "signal"  // send OnChange.Signal; files are rewritten first
	ActionExit    = "exit"    // stop the child, hush exits with shim.ExitOnChange
	ActionNone    = "none"    // leave the child (and its files) alone
)

// OnChange is what --on-change asks for when a secret rotates.
type OnChange struct {
	Action string // one of the Action constants; "" is ActionRestart
	Signal syscall.Signal
}

// Watch puts every watch in place and reports whether anything is watched.
// Call it before Prepare: a change that lands between the first read and
// the watch would otherwise go unseen. Its notice waits, unread, until
// Rotate runs, which re-reads and compares before acting.
func (p *Plan) Watch(ctx context.Context) (bool, error) {
	if len(p.reqs) == 0 {
		return false, nil
	}
	if p.cfg.OnChange.Action == ActionSignal && p.EnvDelivered() {
		p.log.Warn("--on-change signal cannot change environment variables of a running process; " +
			"only secrets delivered as files (--deliver file or ?as=file) will reach the child")
	}
	c := &rotation.Controller{
		Resolver:       p.resolver,
		Requests:       p.reqs,
		ResolveOptions: p.resolveOptions(),
		Watch:          sources.WatchOptions{PollInterval: p.cfg.PollInterval, Logger: p.log},
		Debounce:       p.cfg.Debounce,
		Splay:          p.cfg.Splay,
		ReadTimeout:    p.cfg.StartupTimeout,
		RetryInterval:  p.cfg.PollInterval,
		Logger:         p.log,
	}
	watching, err := c.Start(ctx)
	if err != nil || !watching {
		return false, err
	}
	p.rotation = c
	return true, nil
}

// Rotate acts on rotations until ctx ends, from the values Prepare gave the
// first child, sending what each change asks for on requests. It returns
// only once everything it started has stopped, so that after it the secret
// files can be removed without racing a write.
func (p *Plan) Rotate(ctx context.Context, requests chan<- shim.Request) {
	if p.rotation == nil {
		return
	}
	updates := make(chan rotation.Update)
	var wg sync.WaitGroup
	wg.Go(func() { p.rotation.Run(ctx, p.current, updates) })
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-updates:
			req, ok := p.requestFor(u)
			if !ok {
				continue
			}
			select {
			case requests <- req:
			case <-ctx.Done():
				return
			}
		}
	}
}

// requestFor maps an update to --on-change. The new environment is built,
// checked and its files written before anything is asked of the child, so
// that a signalled child reads the new files, a restarted one finds them in
// place, and a set that cannot be delivered leaves the child alone.
func (p *Plan) requestFor(u rotation.Update) (shim.Request, bool) {
	changed := strings.Join(u.Changed, ",")
	if p.cfg.OnChange.Action == ActionNone {
		p.log.Info("secrets changed; --on-change none leaves the child alone", "changed", changed)
		return shim.Request{}, false
	}
	env, err := p.Environment(u.Values)
	if err != nil {
		for _, e := range sources.Errors(err) {
			p.log.Error("secrets changed but cannot be delivered; the child keeps its current secrets",
				"changed", changed, "err", e.Error())
		}
		return shim.Request{}, false
	}
	p.current = u.Values
	req := shim.Request{Reason: changed, Since: u.Detected}
	switch p.cfg.OnChange.Action {
	case ActionSignal:
		req.Kind, req.Signal = shim.Signal, p.cfg.OnChange.Signal
	case ActionExit:
		req.Kind = shim.Stop
	case ActionRolling:
		req.Kind, req.Env = shim.Roll, env
	case ActionRestart, "":
		req.Kind, req.Env = shim.Restart, env
	default:
		p.log.Error("unknown --on-change action; the child keeps its current secrets",
			"action", fmt.Sprintf("%q", p.cfg.OnChange.Action))
		return shim.Request{}, false
	}
	return req, true
}
