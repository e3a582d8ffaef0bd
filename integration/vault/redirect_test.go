package vault

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hushinit/hush/integration/internal/thief"
)

// A hostile or misconfigured server at VAULT_ADDR answers 307 towards
// another origin (another port, plain HTTP after HTTPS): hush refuses it,
// says why, and neither its token nor an AppRole login's secret id (a 307
// re-sends the body) reaches the other server.
func TestRedirectToAnotherOrigin(t *testing.T) {
	t.Parallel()
	th := thief.New(t, http.StatusForbidden)
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, th.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	plain := httptest.NewServer(redirect)
	t.Cleanup(plain.Close)
	tlsFront := httptest.NewTLSServer(redirect)
	t.Cleanup(tlsFront.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsFront.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	token := "hvs.redirect-" + randomHex(12)
	secretID := "sid-" + randomHex(12)
	sidFile := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(sidFile, []byte(secretID), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"token, another port", []string{"VAULT_ADDR=" + plain.URL, "VAULT_TOKEN=" + token}},
		{"token, https to http", []string{"VAULT_ADDR=" + tlsFront.URL, "VAULT_CACERT=" + caFile, "VAULT_TOKEN=" + token}},
		{"approle login", []string{"VAULT_ADDR=" + plain.URL, "HUSH_VAULT_ROLE_ID=role-" + randomHex(4), "HUSH_VAULT_SECRET_ID_FILE=" + sidFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append(append(baseEnv(), tc.env...), "A=ref+vault://secret/app#/password")
			r := startHush(t, env, []string{token, secretID}, "--startup-timeout", "20s", "--", "true")
			r.expectExit(125)
			if stderr := r.stderr.String(); !strings.Contains(stderr, "refused a redirect") || !strings.Contains(stderr, th.Listener.Addr().String()) {
				t.Errorf("the error does not say which redirect was refused:\n%s", stderr)
			}
			if strings.Contains(r.stderr.String(), "gave up at the deadline") {
				t.Errorf("a refused redirect was retried:\n%s", r.stderr)
			}
		})
	}
	if got := th.Requests(); len(got) != 0 {
		t.Errorf("the other origin received %d requests: %q", len(got), got)
	}
}

// A standby answers 307 to the active node at the same address (a load
// balancer's or a proxy's path): hush follows it, token and all, and reads
// the secret, as vault/api does.
func TestStandbyRedirectSameOrigin(t *testing.T) {
	t.Parallel()
	path := "secret/standby-" + randomHex(4) + "/app"
	pw := "pw-" + randomHex(8)
	shared.kvPut(t, path, map[string]any{"password": pw})
	target, err := url.Parse(shared.addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var redirected atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/standby"); ok {
			redirected.Add(1)
			u := *r.URL
			u.Path = rest
			http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	out := childFile(t)
	env := append(baseEnv(), "VAULT_ADDR="+front.URL+"/standby", "VAULT_TOKEN="+shared.token, "A=ref+vault://"+path+"#/password")
	r := startHush(t, env, []string{pw, shared.token}, shortChild(out, "A")...)
	r.expectChildSaw(out, "A="+pw)
	if redirected.Load() == 0 {
		t.Error("no request went through the standby's redirect")
	}
}

// VAULT_HEADERS can carry authentication (a proxy's or a gateway's
// header): once hush used Vault it is one of hush's credentials and never
// reaches the child, like VAULT_TOKEN.
func TestVaultHeadersScrubbed(t *testing.T) {
	t.Parallel()
	f := newKVFixture(t)
	out := childFile(t)
	header := "gw-" + randomHex(8)
	env := append(shared.env(), `VAULT_HEADERS={"X-Gateway-Auth":"`+header+`"}`, "A=ref+vault://"+f.v2+"#/user")
	r := startHush(t, env, append(f.secretsToCheck, header), shortChild(out, "A", "VAULT_HEADERS", "VAULT_TOKEN")...)
	r.expectChildSaw(out, "A=bob VAULT_HEADERS=<unset> VAULT_TOKEN=<unset>")
}
