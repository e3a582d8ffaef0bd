package vault

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/internal/jointest"
)

// Close waits for the poll loop, even one still delivering a notice, and
// even though the context given to Watch never ends; a Watch after Close
// starts nothing.
func TestCloseJoinsPoll(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/secret/metadata/app" {
			w.WriteHeader(http.StatusForbidden) // the token's own lookup: not a poll
			return
		}
		w.Write([]byte(`{"data":{"current_version":2,"versions":{"2":{"created_time":"t"}}}}`))
	}))
	defer srv.Close()
	t.Setenv("VAULT_ADDR", srv.URL)
	b := New(Config{Getenv: func(k string) string {
		return map[string]string{"VAULT_ADDR": srv.URL, "VAULT_TOKEN": "s.tok"}[k]
	}})
	key := sources.GroupKey{Backend: Name, Path: "secret/app"}
	b.groups[key] = &group{kind: kindKV2, mount: "secret/", logical: "secret/app", apiPath: "secret/data/app", marker: "1@t"}
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
