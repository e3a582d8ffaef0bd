package background

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/hushinit/hush/sources/internal/jointest"
)

func TestStopJoins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc) // the context given to Go
	}{
		{"Stop ends the goroutine", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"the caller's context ended first", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var g Group
			ctx, cancel := tt.ctx()
			defer cancel()
			cancelled, release := make(chan struct{}), make(chan struct{})
			var finished atomic.Bool
			if !g.Go(ctx, func(ctx context.Context) {
				<-ctx.Done()
				close(cancelled)
				<-release // the last write, still under way
				finished.Store(true)
			}) {
				t.Fatal("Go refused before Stop")
			}
			stopped := make(chan struct{})
			go func() {
				if err := g.Stop(context.Background()); err != nil {
					t.Error(err)
				}
				close(stopped)
			}()
			<-cancelled
			if !jointest.StaysOpen(stopped) {
				t.Fatal("Stop returned while a goroutine still ran")
			}
			close(release)
			<-stopped
			if !finished.Load() {
				t.Fatal("Stop returned before the goroutine did")
			}
		})
	}
}

func TestGoAfterStop(t *testing.T) {
	t.Parallel()
	var g Group
	if err := g.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g.Go(context.Background(), func(context.Context) { t.Error("ran after Stop") }) {
		t.Fatal("Go accepted work after Stop")
	}
	if g.Context().Err() == nil {
		t.Fatal("Context still alive after Stop")
	}
}

// A goroutine that ignores its context (a system call no context can
// interrupt) must not hold Stop past the caller's deadline.
func TestStopGivesUpAtDeadline(t *testing.T) {
	t.Parallel()
	var g Group
	release := make(chan struct{})
	defer close(release)
	g.Go(context.Background(), func(context.Context) { <-release })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want context.Canceled", err)
	}
}
