// Package background runs the goroutines a backend starts for itself —
// watch loops, polls, lease and token renewals — so that the backend's
// Close can end them and wait for the last one. hush removes the child's
// secret files after closing the backends; nothing a backend started may
// still run by then.
package background

import (
	"context"
	"fmt"
	"sync"
)

// Group is a backend's set of goroutines. Its zero value is ready to use;
// it must not be copied after first use.
type Group struct {
	init   sync.Once
	ctx    context.Context // ends at Stop
	cancel context.CancelFunc

	mu      sync.Mutex // orders Go's Add before Stop's Wait
	stopped bool
	wg      sync.WaitGroup
}

func (g *Group) start() {
	g.init.Do(func() { g.ctx, g.cancel = context.WithCancel(context.Background()) })
}

// Context ends at Stop. Work a backend does on its own account rather than
// for a caller (a renewal, a login in the background) runs under it.
func (g *Group) Context() context.Context {
	g.start()
	return g.ctx
}

// Go runs f in a new goroutine with a context that ends when ctx ends or at
// Stop, whichever comes first. After Stop it starts nothing and reports
// false: a backend closed while a read was still under way must not start
// a renewal nobody will stop.
func (g *Group) Go(ctx context.Context, f func(ctx context.Context)) bool {
	g.start()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	ctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(g.ctx, cancel)
	g.wg.Go(func() {
		defer cancel()
		defer unhook()
		f(ctx)
	})
	return true
}

// Stop ends the context of every goroutine started by Go and waits until
// all of them have returned, or until ctx ends: a goroutine stuck in a
// system call that no context can interrupt (a stat on a hung network
// mount) must not keep hush from exiting. Calling it again waits again.
func (g *Group) Stop(ctx context.Context) error {
	g.start()
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.cancel()
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("background work still running: %w", ctx.Err())
	}
}
