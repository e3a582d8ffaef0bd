package vault

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hushinit/hush/sources"
)

func TestValidQuery(t *testing.T) {
	ok := []string{"", "version=1", "version=42"}
	for _, q := range ok {
		v, _ := url.ParseQuery(q)
		if err := validQuery(v); err != nil {
			t.Errorf("%q: %v", q, err)
		}
	}
	bad := map[string]string{
		"version=0":                        `not a positive integer`,
		"version=-1":                       `not a positive integer`,
		"version=x":                        `not a positive integer`,
		"version=+1":                       `not a positive integer`,
		"version=1&version=2":              `given 2 times`,
		"token_file=/t":                    "HUSH_VAULT_TOKEN_FILE",
		"address=http://x":                 "VAULT_ADDR",
		"auth_method=approle":              "set VAULT_AUTH_METHOD (token, approle or kubernetes)",
		"role_id=r":                        "set VAULT_ROLE_ID (or HUSH_VAULT_ROLE_ID)",
		"role_id=r&auth_method=kubernetes": "set VAULT_ROLE_ID with VAULT_AUTH_METHOD=kubernetes (or HUSH_VAULT_K8S_ROLE)",
		"secret_id=s":                      "set VAULT_SECRET_ID (or HUSH_VAULT_SECRET_ID_FILE for a file)",
		"namespace=team":                   "set VAULT_NAMESPACE",
		"colour=red&flavour=lemon":         `unknown query parameter "colour", "flavour"`,
	}
	for q, want := range bad {
		v, _ := url.ParseQuery(q)
		err := validQuery(v)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", q, err, want)
		}
	}
	v, _ := url.ParseQuery("version=7")
	if n := versionOf(v); n != 7 {
		t.Errorf("versionOf = %d", n)
	}
	if n := versionOf(url.Values{}); n != 0 {
		t.Errorf("versionOf(empty) = %d", n)
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{"secret/app": "secret/app", "secret/app/": "secret/app", "a": "a"} {
		if got, err := cleanPath(in); err != nil || got != want {
			t.Errorf("cleanPath(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"/secret/app", "", "/", "secret//app", "secret/./app", "secret/../x"} {
		if _, err := cleanPath(in); err == nil {
			t.Errorf("cleanPath(%q): no error", in)
		}
	}
}

func TestMountAndKVPaths(t *testing.T) {
	mounts := []string{"secret/", "team/kv/", "kv1/"}
	for p, want := range map[string]string{
		"secret/app":       "secret/",
		"secret/a/b/c":     "secret/",
		"team/kv/app":      "team/kv/",
		"team/other":       "",
		"secretive/x":      "",
		"kv1/app":          "kv1/",
		"database/creds/x": "",
	} {
		if got := mountOf(p, mounts); got != want {
			t.Errorf("mountOf(%q) = %q, want %q", p, got, want)
		}
	}
	for _, c := range []struct{ mount, logical, prefix, want string }{
		{"secret/", "secret/app", "data", "secret/data/app"},
		{"secret/", "secret/a/b", "metadata", "secret/metadata/a/b"},
		{"team/kv/", "team/kv/app", "data", "team/kv/data/app"},
		{"secret/", "secret", "data", "secret/data"},
	} {
		if got := kvPath(c.mount, c.logical, c.prefix); got != c.want {
			t.Errorf("kvPath(%q, %q, %q) = %q, want %q", c.mount, c.logical, c.prefix, got, c.want)
		}
	}
	if !hasSegmentPrefix("secret/data/app", "secret/", "data") || hasSegmentPrefix("secret/database", "secret/", "data") ||
		hasSegmentPrefix("secret", "secret/", "data") {
		t.Error("hasSegmentPrefix")
	}
}

// answer decodes a Vault answer as the client does.
func answer(t *testing.T, body string) *response {
	t.Helper()
	r := &response{}
	if err := json.Unmarshal([]byte(body), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseMount(t *testing.T) {
	for _, c := range []struct {
		data string
		want mountInfo
	}{
		{`{"path":"secret/","type":"kv","options":{"version":"2"}}`, mountInfo{path: "secret/", kind: kindKV2}},
		{`{"path":"kv1/","type":"kv","options":{"version":"1"}}`, mountInfo{path: "kv1/", kind: kindKV1}},
		{`{"path":"old/","type":"kv","options":null}`, mountInfo{path: "old/", kind: kindKV1}},
		{`{"path":"database","type":"database"}`, mountInfo{path: "database/", kind: kindOther}},
	} {
		got, err := parseMount(answer(t, `{"data":`+c.data+`}`))
		if err != nil || got != c.want {
			t.Errorf("parseMount(%v) = %v, %v; want %v", c.data, got, err, c.want)
		}
	}
	if _, err := parseMount(answer(t, `{"data":{"type":"kv"}}`)); err == nil {
		t.Error("no path: no error")
	}
}

// The document is the secret's data as Vault sent it, compact, with the
// characters Go's encoder escapes for HTML given back as written; the
// marker is the version and its creation time.
func TestDocumentOf(t *testing.T) {
	kv2 := mountInfo{path: "secret/", kind: kindKV2}
	resp := answer(t, `{"data":{"data":{"password":"\u003cp\u0026w\u003e \\u003c","port":5432, "nested":{"a":[1, 2]}},`+
		`"metadata":{"version":3,"created_time":"2026-01-01T00:00:00Z"}}}`)
	data, marker, err := documentOf(kv2, "secret/app", 0, resp)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := encodeDoc(data)
	if want := `{"password":"<p&w> \\u003c","port":5432,"nested":{"a":[1,2]}}`; err != nil || string(doc) != want {
		t.Errorf("doc %s, %v; want %s", doc, err, want)
	}
	var v map[string]any
	if err := json.Unmarshal(doc, &v); err != nil || v["password"] != `<p&w> \u003c` {
		t.Errorf("decoded %q, %v", v["password"], err)
	}
	if marker != "3@2026-01-01T00:00:00Z" {
		t.Errorf("marker %q", marker)
	}
	meta := answer(t, `{"data":{"current_version":3,"versions":{"3":{"created_time":"2026-01-01T00:00:00Z"}}}}`)
	if m := metadataMarker(meta); m != marker {
		t.Errorf("metadata marker %q, data marker %q", m, marker)
	}
	// A deleted version and a missing secret are "not found".
	deleted := answer(t, `{"data":{"data":null,"metadata":{"version":4}}}`)
	if _, _, err := documentOf(kv2, "secret/app", 0, deleted); !errors.Is(err, sources.ErrNotFound) {
		t.Errorf("deleted: %v", err)
	}
	_, _, err = documentOf(kv2, "secret/data/app", 0, nil)
	if !errors.Is(err, sources.ErrNotFound) || !strings.Contains(err.Error(), "logical path") {
		t.Errorf("missing: %v", err)
	}
	other := mountInfo{path: "database/", kind: kindOther}
	data, _, err = documentOf(other, "database/creds/app", 0, answer(t, `{"lease_id":"x","data":{"username":"u"}}`))
	if doc, _ := encodeDoc(data); err != nil || string(doc) != `{"username":"u"}` {
		t.Errorf("logical: %s %v", doc, err)
	}
	if doc, err := encodeDoc(nil); err != nil || string(doc) != "{}" {
		t.Errorf("no data: %s %v", doc, err)
	}
}

// vals' variable names configure the login when hush's own are not set,
// and the ones used are scrubbed like hush's.
func TestValsAuthSettings(t *testing.T) {
	for _, tc := range []struct {
		env    map[string]string
		method authMethod
		vars   []string
	}{
		{map[string]string{"VAULT_AUTH_METHOD": "approle", "VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "s", "VAULT_LOGIN_MOUNT_POINT": "ar"},
			authAppRole, []string{"VAULT_HEADERS", EnvRoleID, EnvSecretIDFile, EnvSecretIDWrap, "VAULT_AUTH_METHOD", "VAULT_ROLE_ID", "VAULT_SECRET_ID"}},
		{map[string]string{"VAULT_AUTH_METHOD": "kubernetes", "VAULT_ROLE_ID": "app", "VAULT_KUBERNETES_JWT_TOKEN_PATH": "/t"},
			authK8s, []string{"VAULT_HEADERS", EnvK8sRole, EnvK8sTokenPath, "VAULT_AUTH_METHOD", "VAULT_ROLE_ID", "VAULT_KUBERNETES_JWT_TOKEN_PATH"}},
		{map[string]string{"VAULT_AUTH_METHOD": "token", "VAULT_TOKEN": "t"}, authToken, []string{"VAULT_HEADERS", "VAULT_TOKEN", "VAULT_AUTH_METHOD"}},
		// hush's own variables win.
		{map[string]string{"VAULT_AUTH_METHOD": "kubernetes", "VAULT_ROLE_ID": "app", "HUSH_VAULT_TOKEN_FILE": "/f"}, authTokenFile, []string{"VAULT_HEADERS", EnvTokenFile}},
	} {
		s, err := readSettings(func(k string) string { return tc.env[k] })
		if err != nil || s.method != tc.method || !slices.Equal(s.credentialVars(), tc.vars) {
			t.Errorf("%v: method %v, vars %v, %v", tc.env, s.method, s.credentialVars(), err)
		}
		if tc.method == authAppRole && (s.roleID != "r" || !s.secretIDEnv || s.approleMount != "ar") {
			t.Errorf("approle: %+v", s)
		}
		if tc.method == authK8s && tc.env["VAULT_ROLE_ID"] != "" && (s.k8sRole != "app" || s.k8sTokenPath != "/t") {
			t.Errorf("kubernetes: %+v", s)
		}
	}
	for _, bad := range []map[string]string{
		{"VAULT_AUTH_METHOD": "userpass"},
		{"VAULT_AUTH_METHOD": "approle", "VAULT_ROLE_ID": "r"},
		{"VAULT_AUTH_METHOD": "kubernetes"},
	} {
		if _, err := readSettings(func(k string) string { return bad[k] }); err == nil || !strings.Contains(err.Error(), "VAULT_") {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

func TestReadSettings(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		env  func(string) string
		want authMethod
	}{
		{env(), authNone},
		{env("VAULT_TOKEN", "t", EnvTokenFile, "/f", EnvRoleID, "r", EnvSecretIDFile, "/s", EnvK8sRole, "k"), authToken},
		{env(EnvTokenFile, "/f", EnvRoleID, "r", EnvSecretIDFile, "/s", EnvK8sRole, "k"), authTokenFile},
		{env(EnvRoleID, "r", EnvSecretIDFile, "/s", EnvK8sRole, "k"), authAppRole},
		{env(EnvK8sRole, "k"), authK8s},
	} {
		s, err := readSettings(c.env)
		if err != nil || s.method != c.want {
			t.Errorf("method %v, %v; want %v", s.method, err, c.want)
		}
	}
	for _, bad := range []func(string) string{
		env(EnvRoleID, "r"),
		env(EnvSecretIDFile, "/s"),
		env(EnvPollInterval, "soon"),
		env(EnvRequestTimeout, "0s"),
		env(EnvSecretIDWrap, "maybe"),
	} {
		if _, err := readSettings(bad); err == nil {
			t.Error("bad settings accepted")
		}
	}
	s, _ := readSettings(env(EnvPollInterval, "5s", EnvRequestTimeout, "3s"))
	if s.pollInterval != 5*time.Second || s.requestTimeout != 3*time.Second || !s.requestTimeoutSet {
		t.Errorf("durations: %+v", s)
	}
	if got := (settings{method: authToken}).credentialVars(); !slices.Equal(got, []string{"VAULT_HEADERS", "VAULT_TOKEN"}) {
		t.Errorf("credentialVars %v", got)
	}
}

func TestRequestErrors(t *testing.T) {
	e := describe("read", "secret/data/x", &statusError{status: 403, errors: []string{"1 error occurred:\n\t* permission denied\n\n"}})
	if e.Error() != "read secret/data/x: HTTP 403 (permission denied)" || e.transient() {
		t.Errorf("403: %q transient=%v", e, e.transient())
	}
	// The server's own text never appears, whatever it says.
	e = describe("log in", "auth/approle/login", &statusError{status: 400, errors: []string{"invalid secret id hunter2"}})
	if strings.Contains(e.Error(), "hunter2") || !strings.Contains(e.Error(), "invalid secret id") {
		t.Errorf("400: %q", e)
	}
	for status, transient := range map[int]bool{500: true, 502: true, 503: true, 429: true, 412: true, 501: false, 404: false, 400: false} {
		if got := describe("x", "p", &statusError{status: status}).transient(); got != transient {
			t.Errorf("%d transient = %v", status, got)
		}
	}
	_, err := net.Dial("tcp", "127.0.0.1:1")
	e = describe("read", "p", &url.Error{Op: "Get", URL: "http://127.0.0.1:1/v1/p", Err: err})
	if e.Error() != "read p: connection refused" || !e.transient() {
		t.Errorf("network: %q transient=%v", e, e.transient())
	}
	e = describe("read", "p", context.Canceled)
	if e.transient() {
		t.Error("cancelled is transient")
	}
}

// The VAULT_* variables are vault/api's (ReadEnvironment); hush adds the
// check that an address is set, caps VAULT_MAX_RETRIES, and reports a bad
// setting without repeating more of it than needed.
func TestClientSettings(t *testing.T) {
	getenv := func(k string) string { return os.Getenv(k) }
	t.Setenv("VAULT_ADDR", "")
	t.Setenv("VAULT_AGENT_ADDR", "")
	if _, err := newClient(getenv, time.Second, false); err == nil ||
		!strings.Contains(err.Error(), "VAULT_ADDR") || !strings.Contains(err.Error(), "VAULT_AGENT_ADDR") {
		t.Errorf("no address: %v", err)
	}
	t.Setenv("VAULT_ADDR", "http://a:1")
	t.Setenv("VAULT_AGENT_ADDR", "http://agent:2")
	t.Setenv("VAULT_MAX_RETRIES", "99")
	c, err := newClient(getenv, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.address() != "http://agent:2" || c.maxRetries != maxRetriesCap {
		t.Errorf("address %s, retries %d", c.address(), c.maxRetries)
	}
	t.Setenv("VAULT_MAX_RETRIES", "")
	for k, v := range map[string]string{
		"VAULT_SKIP_VERIFY":    "perhaps",
		"VAULT_MAX_RETRIES":    "-1",
		"VAULT_CLIENT_TIMEOUT": "soon",
		"VAULT_RATE_LIMIT":     "fast",
		"VAULT_HEADERS":        `{"X-Vault-Token":"x"}`,
		"VAULT_CLIENT_CERT":    "/nonexistent/c",
	} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			if k == "VAULT_CLIENT_CERT" {
				t.Setenv("VAULT_CLIENT_KEY", "/nonexistent/k")
			}
			if _, err := newClient(getenv, time.Second, false); err == nil {
				t.Errorf("%s=%s accepted", k, v)
			} else if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error: %q", err)
			}
		})
	}
}

// The client's requests: the headers vault/api sends, the token only when
// there is one, never a wrapping TTL (whatever VAULT_WRAP_TTL says), one
// redirect followed within the origin, 404 as nothing.
func TestClientRequests(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []*http.Request
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/secret/data/app", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		w.Write([]byte(`{"data":{"data":{"k":"v"},"metadata":{"version":1}}}`))
	})
	mux.HandleFunc("/v1/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/v1/secret/data/app", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/v1/missing", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		w.Write([]byte(`{"errors":[]}`))
	})
	mux.HandleFunc("/v1/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(429)
	})
	mux.HandleFunc("/v1/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":{"k":"`))
		w.Write([]byte(strings.Repeat("x", maxResponse)))
		w.Write([]byte(`"}}`))
	})
	mux.HandleFunc("/v1/huge-error", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		w.Write([]byte(strings.Repeat("x", maxResponse+10)))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for k, v := range map[string]string{"VAULT_ADDR": srv.URL, "VAULT_NAMESPACE": "team", "VAULT_WRAP_TTL": "5m", "VAULT_HEADERS": `{"X-Trace":"1"}`, "VAULT_TOKEN": "from-env"} {
		t.Setenv(k, v)
	}
	c, err := newClient(os.Getenv, 5*time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r, err := c.read(ctx, "secret/data/app", nil, ""); err != nil || r.Data.fields()["data"].(map[string]any)["k"] != "v" {
		t.Fatalf("read: %v %v", r, err)
	}
	if _, err := c.read(ctx, "moved", nil, "tok"); err != nil {
		t.Fatalf("redirect: %v", err)
	}
	if len(seen) != 2 {
		t.Fatalf("%d requests", len(seen))
	}
	for i, r := range seen {
		h := r.Header
		if h.Get("X-Vault-Request") != "true" || h.Get("X-Vault-Namespace") != "team" || h.Get("X-Trace") != "1" || h.Get("X-Vault-Wrap-TTL") != "" {
			t.Errorf("request %d headers: %v", i, h)
		}
	}
	// VAULT_TOKEN is not sent behind the auth method's back.
	if seen[0].Header.Get("X-Vault-Token") != "" || seen[1].Header.Get("X-Vault-Token") != "tok" {
		t.Error("token headers")
	}
	if r, err := c.read(ctx, "missing", nil, "tok"); r != nil || err != nil {
		t.Errorf("404: %v %v", r, err)
	}
	_, err = c.read(ctx, "busy", nil, "tok")
	if d := describe("read", "busy", err); d.status != 429 || d.wait != 2*time.Second || !d.transient() {
		t.Errorf("429: %+v", d)
	}
	for _, p := range []string{"huge", "huge-error"} {
		if _, err := c.read(ctx, p, nil, "tok"); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := c.read(ctx, "secret/data/app", nil, "bad\ntoken"); err == nil {
		t.Error("a token with a newline was sent")
	}
}

// A unix:// address talks HTTP over the socket (Vault Agent's listener).
func TestClientUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":{"path":"` + r.URL.Path + `"}}`))
	})}
	go srv.Serve(l)
	defer srv.Close()
	t.Setenv("VAULT_ADDR", "unix://"+sock)
	c, err := newClient(os.Getenv, time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.read(context.Background(), "kv/x", nil, "")
	if err != nil || r.Data.fields()["path"] != "/v1/kv/x" {
		t.Errorf("%v %v", r, err)
	}
}

// New does nothing but read settings: no client, no network.
func TestNewIsLazy(t *testing.T) {
	b := New(Config{Getenv: func(k string) string {
		return map[string]string{"VAULT_ADDR": "http://127.0.0.1:1", "VAULT_TOKEN": "t"}[k]
	}})
	if b.client != nil || b.UsedCredentials() != nil {
		t.Error("New made a client, or reports credentials it did not use")
	}
	if err := b.Close(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestRenewSchedule(t *testing.T) {
	for _, ttl := range []time.Duration{time.Second, 4 * time.Second, time.Hour} {
		for range 100 {
			g := graceOf(ttl)
			if g < ttl/10 || g > ttl/5 {
				t.Fatalf("grace %v for %v", g, ttl)
			}
			if w := sleepBeforeRenewal(ttl, g); ttl-w <= g {
				t.Fatalf("a fresh %v would end at once (wait %v, grace %v)", ttl, w, g)
			}
		}
	}
}

func TestKVMountsSetting(t *testing.T) {
	got, err := parseKVMounts(" secret=2, /legacy/=1 ")
	if err != nil || len(got) != 2 || got["secret/"] != kindKV2 || got["legacy/"] != kindKV1 {
		t.Errorf("parseKVMounts = %v, %v", got, err)
	}
	for _, bad := range []string{"secret", "secret=3", "=2", "a//b=1"} {
		if _, err := parseKVMounts(bad); err == nil || !strings.Contains(err.Error(), EnvKVMounts) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if m, _ := parseKVMounts(""); m != nil {
		t.Error("empty setting")
	}
}

// A redirect to another origin is refused before anything is sent there,
// and is no transient failure: retrying would be redirected again.
func TestClientRedirectOrigin(t *testing.T) {
	var got atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer other.Close()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer front.Close()
	t.Setenv("VAULT_ADDR", front.URL)
	c, err := newClient(os.Getenv, time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.read(context.Background(), "secret/data/app", nil, "s.token")
	e := describe("read", "secret/data/app", err)
	if err == nil || e.transient() || !strings.Contains(e.Error(), "refused a redirect") || strings.Contains(e.Error(), "s.token") {
		t.Errorf("err %v, transient %v", e, e.transient())
	}
	if got.Load() != 0 {
		t.Error("the other origin was contacted")
	}
}

// polledBackend is a backend that has read version 1 of the KV v2 secret
// secret/app from a server whose metadata reads (the polls) poll answers.
// It sets VAULT_ADDR, so its test cannot run in parallel.
func polledBackend(t *testing.T, poll func(w http.ResponseWriter)) (*Backend, sources.GroupKey) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/secret/metadata/app" {
			w.WriteHeader(http.StatusForbidden) // the token's own lookup: not a poll
			return
		}
		poll(w)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("VAULT_ADDR", srv.URL)
	b := New(Config{Getenv: func(k string) string {
		return map[string]string{"VAULT_ADDR": srv.URL, "VAULT_TOKEN": "s.tok"}[k]
	}})
	key := sources.GroupKey{Backend: Name, Path: "secret/app"}
	b.groups[key] = &group{kind: kindKV2, mount: "secret/", logical: "secret/app", apiPath: "secret/data/app", marker: "1@t"}
	return b, key
}

// The poll loop with an injected clock and random source: the first poll
// at a random point of the interval, then, while Vault fails, one request
// per poll (no retries within it) and waits doubling up to ten intervals;
// the interval again once Vault answers.
func TestPollLoopBacksOff(t *testing.T) {
	var (
		mu   sync.Mutex
		fail = true
		hits int
	)
	b, key := polledBackend(t, func(w http.ResponseWriter) {
		mu.Lock()
		defer mu.Unlock()
		hits++
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"data":{"current_version":1,"versions":{"1":{"created_time":"t"}}}}`))
	})
	defer b.Close(context.Background())
	b.random = func() float64 { return 0.5 }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waits []time.Duration
	var hitsAt []int
	b.sleep = func(ctx context.Context, d time.Duration) bool {
		mu.Lock()
		waits = append(waits, d)
		hitsAt = append(hitsAt, hits)
		if len(waits) == 7 {
			fail = false // Vault is back for the seventh poll
		}
		mu.Unlock()
		if len(waits) == 9 {
			cancel()
			return false
		}
		return true
	}
	const iv = 10 * time.Second
	b.pollLoop(ctx, []sources.GroupKey{key}, iv)
	want := []time.Duration{iv / 2, 2 * iv, 4 * iv, 8 * iv, 10 * iv, 10 * iv, 10 * iv, iv, iv}
	if !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	// One request per poll: the n-th wait comes after n-1 requests.
	for i, h := range hitsAt {
		if h != i {
			t.Errorf("before wait %d: %d requests, want %d", i, h, i)
		}
	}
}
