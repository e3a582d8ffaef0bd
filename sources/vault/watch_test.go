package vault

import (
	"net/http"
	"testing"
	"time"

	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/internal/jointest"
)

// Close waits for the poll loop, even one still delivering a notice, and
// even though the context given to Watch never ends; a Watch after Close
// starts nothing.
func TestCloseJoinsPoll(t *testing.T) {
	// Version 2 at every poll: a change, so the poll loop notifies.
	b, key := polledBackend(t, func(w http.ResponseWriter) {
		w.Write([]byte(`{"data":{"current_version":2,"versions":{"2":{"created_time":"t"}}}}`))
	})
	jointest.CheckWatch(t, b, []sources.GroupKey{key}, sources.WatchOptions{PollInterval: time.Millisecond}, nil)
}

// Close waits for a lease's renewal goroutine, even one still reporting
// the lease's end.
func TestCloseJoinsLease(t *testing.T) {
	t.Parallel()
	b := New(Config{})
	notice := jointest.NewNotice()
	b.notify = notice.Notify
	key := sources.GroupKey{Backend: Name, Path: "database/creds/app"}
	// Not renewable, one second: it ends, and is reported, within a second.
	b.record(key, &group{logical: "database/creds/app"}, "database/creds/app",
		&response{LeaseID: "database/creds/app/x", LeaseDuration: 1})
	notice.CloseWaits(t, b)
}
