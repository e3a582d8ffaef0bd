package main

import (
	"context"
	"strings"

	"github.com/hushinit/hush/shim"
	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/rotation"
)

// watch puts the watches in place before the first read (see
// rotation.Controller.Start) and returns the channel on which the
// supervisor receives what each change asks for. The controller itself runs
// once the first environment exists.
func (p *secretPlan) watch(ctx context.Context) (<-chan shim.Request, error) {
	if len(p.reqs) == 0 {
		return nil, nil
	}
	p.rotation = &rotation.Controller{
		Resolver:       p.resolver,
		Requests:       p.reqs,
		ResolveOptions: p.resolveOptions(),
		Watch:          sources.WatchOptions{PollInterval: p.opts.pollInterval, Logger: p.log},
		Debounce:       p.opts.debounce,
		Splay:          p.opts.splay,
		ReadTimeout:    p.opts.startupTimeout,
		RetryInterval:  p.opts.pollInterval,
		Logger:         p.log,
	}
	watching, err := p.rotation.Start(ctx)
	if err != nil {
		return nil, err
	}
	if !watching {
		p.rotation = nil
		return nil, nil
	}
	requests := make(chan shim.Request)
	p.onFirstValues = func(first []sources.Value) { p.rotate(ctx, first, requests) }
	return requests, nil
}

// rotate runs the controller from the values the first child got, and turns
// each update into a request for the supervisor.
func (p *secretPlan) rotate(ctx context.Context, first []sources.Value, requests chan<- shim.Request) {
	updates := make(chan rotation.Update)
	go p.rotation.Run(ctx, first, updates)
	go func() {
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
	}()
}

// requestFor maps an update to --on-change. Secrets delivered as files are
// rewritten first (atomically), so that a signalled child reads the new
// ones and a restarted child finds them in place.
func (p *secretPlan) requestFor(u rotation.Update) (shim.Request, bool) {
	reason := strings.Join(u.Changed, ",")
	if p.opts.onChange.action == "none" {
		p.log.Info("secrets changed; --on-change none leaves the child alone", "vars", reason)
		return shim.Request{}, false
	}
	env, err := p.environment(u.Values)
	if err != nil {
		logError(p.log, "secrets changed but cannot be delivered; the child keeps its current secrets", err)
		return shim.Request{}, false
	}
	req := shim.Request{Reason: reason, Since: u.Detected}
	switch p.opts.onChange.action {
	case "signal":
		req.Kind, req.Signal = shim.Signal, p.opts.onChange.signal
	case "exit":
		req.Kind = shim.Stop
	case "rolling":
		req.Kind, req.Env = shim.Roll, env
	default:
		req.Kind, req.Env = shim.Restart, env
	}
	return req, true
}
