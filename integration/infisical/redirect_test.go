package infisical

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/hushinit/hush/integration/internal/thief"
)

// A server at INFISICAL_API_URL answers 307 towards another origin (here
// another port, plain HTTP): hush refuses to follow, says why, does not
// retry, and neither the client secret (a 307 re-posts the login's body)
// nor the bearer token reaches the other server.
func TestRedirectToAnotherOrigin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		redirect string // path prefix that is redirected; the rest reaches the fake
	}{
		{"login", "/api/v1/auth/"},
		{"list", "/api/v3/secrets/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			th := thief.New(t, http.StatusUnauthorized)
			fake, err := url.Parse(w.f.URL())
			if err != nil {
				t.Fatal(err)
			}
			proxy := httputil.NewSingleHostReverseProxy(fake)
			front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, tc.redirect) {
					http.Redirect(rw, r, th.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
					return
				}
				proxy.ServeHTTP(rw, r)
			}))
			t.Cleanup(front.Close)
			env := append(w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD"), "INFISICAL_DOMAIN="+front.URL)
			r := start(t, env, "--startup-timeout", "20s")
			// The error says which redirect was refused.
			out := r.expectRefused("refused a redirect", th.Listener.Addr().String())
			if strings.Contains(out, "retrying") {
				t.Errorf("a refused redirect was retried:\n%s", out)
			}
			if got := th.Requests(); len(got) != 0 {
				t.Errorf("the other origin received %d requests", len(got))
			}
			assertNoLeak(t, out, w.secrets())
		})
	}
}
