package sources

import (
	"context"
	"log/slog"
	"time"
)

// Watcher is implemented by backends that can tell when a read may give a
// different result. A notice is only a hint: the rotation controller
// re-reads the group and compares digests before anything happens to the
// child, so a watcher may report too often but must not miss a change it can
// see.
type Watcher interface {
	// Watch puts the watch for keys in place and returns; from then until
	// ctx ends or the backend is closed, notify is called (from any
	// goroutine) with each group that may have changed.
	Watch(ctx context.Context, keys []GroupKey, opts WatchOptions, notify func(GroupKey)) error
	// Close ends every goroutine the backend started — its watches
	// included, whether or not their ctx has ended — and returns only once
	// all of them have returned (or ctx ended): hush removes the secret
	// files after it.
	Closer
}

// WatchOptions are the settings every watcher shares.
type WatchOptions struct {
	// PollInterval is how often a source that cannot push notices is
	// checked (--poll-interval).
	PollInterval time.Duration
	Logger       *slog.Logger // names and references only, never values
	// Vars names the variables each watched group feeds, so that a
	// watcher's warning can say which variable it is about.
	Vars map[GroupKey][]string
}
