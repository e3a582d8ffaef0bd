package vault

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// While Vault answers 503 to a watching hush, each poll is one request (no
// per-request retries, which tripled the load of a whole fleet during an
// outage) and the polls back off: hush asks less often than in steady
// state (one request per 200ms interval). That is a lower bound on the
// time the requests took, which a loaded machine can only lengthen. The
// child is left alone, and once Vault answers again a change still
// reaches a new child.
func TestPollBacksOffDuringOutage(t *testing.T) {
	t.Parallel()
	path := "secret/outage-" + randomHex(4) + "/app"
	one, two := "one-"+randomHex(8), "two-"+randomHex(8)
	shared.kvPut(t, path, map[string]any{"v": one})
	target, err := url.Parse(shared.addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var (
		mu       sync.Mutex
		down     bool
		refused  int
		metaPath = "/v1/" + strings.Replace(path, "secret/", "secret/metadata/", 1)
	)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		isDown := down
		if isDown && r.URL.Path == metaPath {
			refused++
		}
		mu.Unlock()
		if isDown {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"errors":["Vault is sealed"]}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	out := childFile(t)
	env := append(baseEnv(), "VAULT_ADDR="+front.URL, "VAULT_TOKEN="+shared.token, "S=ref+vault://"+path+"#/v")
	r := startHush(t, env, []string{one, two, shared.token}, args(fastWatch, longChild(out, "S"))...)
	if got := r.waitLines(out, 1); got[0] != "S="+one {
		t.Fatalf("first child saw %q", got[0])
	}
	mu.Lock()
	down = true
	since := time.Now()
	mu.Unlock()
	const attempts = 6
	r.eventually("refused polls", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return refused >= attempts
	})
	took := time.Since(since)
	mu.Lock()
	down = false
	mu.Unlock()
	if steady := attempts * 200 * time.Millisecond; took < 2*steady {
		t.Errorf("%d requests in %s during the outage: no slower than the steady rate (%s for as many)", attempts, took, steady)
	}
	if got := lines(out); len(got) != 1 {
		t.Fatalf("the child was restarted during the outage: %q", got)
	}
	shared.kvPut(t, path, map[string]any{"v": two})
	if got := r.waitLines(out, 2); got[1] != "S="+two {
		t.Errorf("restarted child saw %q", got[1])
	}
}
