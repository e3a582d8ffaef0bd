package infisical

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/internal/jointest"
)

// Close waits for the poller, even one still delivering a notice, and even
// though the context given to Watch never ends; a Watch after Close starts
// nothing.
func TestCloseJoinsPoll(t *testing.T) {
	t.Parallel()
	var lists atomic.Int64
	ws := newWireServer(t, func(w http.ResponseWriter, r *http.Request) {
		// A new value at every listing: the second poll sees a change.
		answer(w, 200, fmt.Sprintf(`{"secrets":[{"secretKey":"A","secretValue":"a%d"}]}`, lists.Add(1)))
	})
	b := New(Config{Getenv: env(envDomain, ws.srv.URL, envToken, "tok-123")})
	key := sources.GroupKey{Backend: Name, Path: "A", Query: "project_id=p&environment=dev"}
	jointest.CheckWatch(t, b, []sources.GroupKey{key}, sources.WatchOptions{PollInterval: time.Millisecond}, nil)
}
