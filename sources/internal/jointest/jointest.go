// Package jointest checks, for the backends' tests, that closing a backend
// waits for the goroutines its watches started: hush removes the secret
// files right after, so nothing a backend started may still run by then.
package jointest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hushinit/hush/sources"
)

// CheckWatch watches keys and, once the watch's goroutine is delivering a
// notice, checks that Close waits for it (Notice.CloseWaits) although the
// context given to Watch never ends; then that a Watch after Close fails
// rather than start a goroutine nobody would join. change makes the watch
// see a change; nil when it reports one by itself.
func CheckWatch(t *testing.T, w sources.Watcher, keys []sources.GroupKey, opts sources.WatchOptions, change func()) {
	t.Helper()
	notice := NewNotice()
	if err := w.Watch(context.Background(), keys, opts, notice.Notify); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change()
	}
	notice.CloseWaits(t, w)
	if err := w.Watch(context.Background(), keys, opts, notice.Notify); err == nil {
		t.Error("Watch after Close succeeded: its goroutine would never be joined")
	}
}

// StaysOpen reports whether done stays open for a moment. It cannot prove
// a negative, but a Close that does not wait returns within microseconds:
// a missing join fails here on all but a very loaded machine, and a
// correct one never does.
func StaysOpen(done <-chan struct{}) bool {
	select {
	case <-done:
		return false
	case <-time.After(50 * time.Millisecond):
		return true
	}
}

// Notice is a watch's notify function whose first call blocks until Close
// has been called: it stands for whatever a watch goroutine is still doing
// when hush shuts down.
type Notice struct {
	once     sync.Once
	entered  chan struct{}
	release  chan struct{}
	returned atomic.Bool
}

// NewNotice returns a Notice whose first call will block.
func NewNotice() *Notice {
	return &Notice{entered: make(chan struct{}), release: make(chan struct{})}
}

// Notify is the function to give Watch (or to a backend's notify hook).
func (n *Notice) Notify(sources.GroupKey) {
	first := false
	n.once.Do(func() {
		first = true
		close(n.entered)
	})
	if !first {
		return
	}
	<-n.release
	n.returned.Store(true)
}

// CloseWaits waits for the backend's first notice, closes the backend while
// that notice is still being delivered, and fails t if Close returns before
// the notice has.
func (n *Notice) CloseWaits(t *testing.T, b sources.Closer) {
	t.Helper()
	select {
	case <-n.entered:
	case <-t.Context().Done():
		t.Fatal("the watch never gave a notice")
	}
	closed := make(chan struct{})
	var err error
	go func() {
		err = b.Close(context.Background())
		close(closed)
	}()
	if !StaysOpen(closed) {
		t.Fatal("Close returned while a watch goroutine was still delivering a notice")
	}
	close(n.release)
	<-closed
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !n.returned.Load() {
		t.Fatal("Close returned before the watch goroutine's notice did")
	}
}
