package infisical

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/internal/background"
)

// These tests pin the exact requests hush sends, byte for byte where the
// SDK's were (reference/client-libraries.md, section B, "Exact wire
// shapes"), and how answers are read. integration/infisical drives the
// binary against a fuller fake.

// seen is one request as the server received it.
type seen struct {
	method, path, rawQuery, body string
	header                       http.Header
}

// wireServer answers every request with handle and records it.
type wireServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []seen
	handle func(w http.ResponseWriter, r *http.Request)
}

func newWireServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *wireServer {
	t.Helper()
	ws := &wireServer{handle: handle}
	ws.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ws.mu.Lock()
		ws.reqs = append(ws.reqs, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b), r.Header.Clone()})
		ws.mu.Unlock()
		ws.handle(w, r)
	}))
	t.Cleanup(ws.srv.Close)
	return ws
}

func (ws *wireServer) last(t *testing.T) seen {
	t.Helper()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if len(ws.reqs) == 0 {
		t.Fatal("no request")
	}
	return ws.reqs[len(ws.reqs)-1]
}

func (ws *wireServer) count() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.reqs)
}

func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// testClient is a client for ws with the given extra environment (a plain
// token by default).
func testClient(t *testing.T, ws *wireServer, kv ...string) *client {
	t.Helper()
	if len(kv) == 0 {
		kv = []string{envToken, "tok-123"}
	}
	s, err := loadSettings(env(append([]string{envDomain, ws.srv.URL, envTimeout, "2s"}, kv...)...))
	if err != nil {
		t.Fatal(err)
	}
	return newClient(s, slog.New(slog.DiscardHandler), new(background.Group))
}

// checkGet checks that r is a GET of path with exactly query.
func checkGet(t *testing.T, r seen, path, query string) {
	t.Helper()
	if r.method != http.MethodGet || r.path != path {
		t.Errorf("%s %s, want GET %s", r.method, r.path, path)
	}
	if r.rawQuery != query {
		t.Errorf("query\n %s\nwant\n %s", r.rawQuery, query)
	}
}

func checkHeaders(t *testing.T, r seen, bearer string, json bool) {
	t.Helper()
	if ua := r.header.Get("User-Agent"); ua != userAgent {
		t.Errorf("%s: User-Agent %q", r.path, ua)
	}
	wantAuth := ""
	if bearer != "" {
		wantAuth = "Bearer " + bearer
	}
	if got := r.header.Get("Authorization"); got != wantAuth {
		t.Errorf("%s: Authorization %q, want %q", r.path, got, wantAuth)
	}
	wantCT := ""
	if json {
		wantCT = "application/json"
	}
	if got := r.header.Get("Content-Type"); got != wantCT {
		t.Errorf("%s: Content-Type %q, want %q", r.path, got, wantCT)
	}
}

const listBody = `{"secrets":[` +
	`{"id":"1","_id":"1","workspace":"p","environment":"dev","version":2,"type":"shared","secretKey":"A","secretValue":"a2","secretComment":"","secretValueHidden":false,"secretReminderNote":null,"skipMultilineEncoding":false,"createdAt":"2026-01-01T00:00:00.000Z","updatedAt":"2026-01-01T00:00:00.000Z","tags":[],"secretMetadata":[]},` +
	`{"secretKey":"B","secretValue":"b","secretValueHidden":false}],` +
	`"imports":[{"secretPath":"/shared","environment":"dev","folderId":"f","secrets":[{"secretKey":"A","secretValue":"imported"},{"secretKey":"C","secretValue":"c"}]}]}`

func TestWireList(t *testing.T) {
	t.Parallel()
	etag := `"abc"`
	ws := newWireServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		answer(w, 200, listBody)
	})
	c := testClient(t, ws)
	f := folder{ProjectID: "p-id", Environment: "dev", Path: "/", Expand: false, Imports: true}
	l, err := c.list(context.Background(), f, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	r := ws.last(t)
	// Every parameter, sorted, workspaceSlug empty: the SDK's query.
	checkGet(t, r, "/api/v3/secrets/raw", "environment=dev&expandSecretReferences=false&include_imports=true&recursive=false&secretPath=%2F&workspaceId=p-id&workspaceSlug=")
	checkHeaders(t, r, "tok-123", false)
	if r.header.Get("If-None-Match") != "" || r.body != "" {
		t.Errorf("If-None-Match %q, body %q", r.header.Get("If-None-Match"), r.body)
	}
	// The folder's own key wins over an import's.
	if l.values["A"] != "a2" || l.values["B"] != "b" || l.values["C"] != "c" || len(l.values) != 3 || l.etag != etag {
		t.Errorf("listing %v, etag %q", l.values, l.etag)
	}

	if _, err := c.list(context.Background(), f, etag, 1); !errors.Is(err, errNotModified) {
		t.Errorf("304: %v", err)
	}
	if got := ws.last(t).header.Get("If-None-Match"); got != etag {
		t.Errorf("If-None-Match %q", got)
	}

	// A slug and a nested path; no imports asked for, none used.
	f = folder{ProjectSlug: "web", Environment: "prod", Path: "/a b/c", Expand: true}
	l, err = c.list(context.Background(), f, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	checkGet(t, ws.last(t), "/api/v3/secrets/raw", "environment=prod&expandSecretReferences=true&include_imports=false&recursive=false&secretPath=%2Fa+b%2Fc&workspaceId=&workspaceSlug=web")
	if _, ok := l.values["C"]; ok {
		t.Error("an import's secret used without include_imports")
	}
}

func TestWireRetrieve(t *testing.T) {
	t.Parallel()
	ws := newWireServer(t, func(w http.ResponseWriter, r *http.Request) {
		answer(w, 200, `{"secret":{"secretKey":"DB.PASS-1","secretValue":"v3","version":3,"secretPath":"/app","secretValueHidden":false}}`)
	})
	c := testClient(t, ws)
	tg := target{Key: "DB.PASS-1", Version: 3, Folder: folder{ProjectID: "p-id", Environment: "dev", Path: "/app", Expand: true, Imports: true}}
	v, err := c.retrieve(context.Background(), tg, 1)
	if err != nil || v != "v3" {
		t.Fatalf("%q, %v", v, err)
	}
	r := ws.last(t)
	// workspaceSlug only when there is no ID.
	checkGet(t, r, "/api/v3/secrets/raw/DB.PASS-1", "environment=dev&expandSecretReferences=true&include_imports=true&secretPath=%2Fapp&type=shared&version=3&workspaceId=p-id")
	checkHeaders(t, r, "tok-123", false)

	tg.Folder = folder{ProjectSlug: "web", Environment: "dev", Path: "/"}
	if _, err := c.retrieve(context.Background(), tg, 1); err != nil {
		t.Fatal(err)
	}
	checkGet(t, ws.last(t), "/api/v3/secrets/raw/DB.PASS-1", "environment=dev&expandSecretReferences=false&include_imports=false&secretPath=%2F&type=shared&version=3&workspaceSlug=web")
}

func TestWireAuth(t *testing.T) {
	t.Parallel()
	ws := newWireServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/auth/token/revoke" {
			answer(w, 200, `{"message":"Successfully revoked access token"}`)
			return
		}
		answer(w, 200, `{"accessToken":"at-1","expiresIn":7200,"accessTokenMaxTTL":2592000,"tokenType":"Bearer"}`)
	})
	ctx := context.Background()

	c := testClient(t, ws, envClientID, "cid", envSecret, "cs<&>")
	tok, err := c.login(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tok.value != "at-1" || tok.ttl != 2*time.Hour || !tok.fromLogin || tok.maxUntil.Sub(tok.obtained) != 30*24*time.Hour {
		t.Errorf("token %+v", tok)
	}
	r := ws.last(t)
	if r.method != http.MethodPost || r.path != "/api/v1/auth/universal-auth/login" || r.rawQuery != "" {
		t.Errorf("%s %s?%s", r.method, r.path, r.rawQuery)
	}
	// encoding/json's HTML escaping, as resty's JSON encoding does.
	if want := `{"clientId":"cid","clientSecret":"cs\u003c\u0026\u003e"}`; r.body != want {
		t.Errorf("body %s, want %s", r.body, want)
	}
	checkHeaders(t, r, "", true)

	c = testClient(t, ws, envClientID, "cid", envSecret, "cs", envOrgSlug, "acme")
	if _, err := c.login(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if want := `{"clientId":"cid","clientSecret":"cs","organizationSlug":"acme"}`; ws.last(t).body != want {
		t.Errorf("body %s, want %s", ws.last(t).body, want)
	}

	jwtFile := t.TempDir() + "/token"
	writeTestFile(t, jwtFile, "eyJ.jwt\n")
	c = testClient(t, ws, envK8sID, "ident", envK8sTokenPth, jwtFile)
	if _, err := c.login(ctx, 1); err != nil {
		t.Fatal(err)
	}
	r = ws.last(t)
	if r.path != "/api/v1/auth/kubernetes-auth/login" || r.body != `{"identityId":"ident","jwt":"eyJ.jwt"}` {
		t.Errorf("%s %s", r.path, r.body)
	}
	checkHeaders(t, r, "", true)

	// Renewal: no Authorization header, the token in the body.
	old := &token{value: "at-0", obtained: time.Now(), ttl: time.Hour, fromLogin: true}
	if _, err := c.renew(ctx, old, 1); err != nil {
		t.Fatal(err)
	}
	r = ws.last(t)
	if r.method != http.MethodPost || r.path != "/api/v1/auth/token/renew" || r.body != `{"accessToken":"at-0"}` {
		t.Errorf("%s %s %s", r.method, r.path, r.body)
	}
	checkHeaders(t, r, "", true)

	// Revocation: Bearer and the token in the body.
	c.mu.Lock()
	c.tok = old
	c.mu.Unlock()
	if err := c.revoke(ctx); err != nil {
		t.Fatal(err)
	}
	r = ws.last(t)
	if r.method != http.MethodPost || r.path != "/api/v1/auth/token/revoke" || r.body != `{"accessToken":"at-0"}` {
		t.Errorf("%s %s %s", r.method, r.path, r.body)
	}
	checkHeaders(t, r, "at-0", true)
}

func TestErrorAnswers(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		status int
		body   string
		ctype  = "application/json; charset=utf-8"
	)
	set := func(s int, b string) {
		mu.Lock()
		status, body = s, b
		mu.Unlock()
	}
	ws := newWireServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s, b := status, body
		mu.Unlock()
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(s)
		_, _ = io.WriteString(w, b)
	})
	c := testClient(t, ws)
	f := folder{ProjectID: "p", Environment: "dev", Path: "/"}
	cases := []struct {
		status  int
		body    string
		want    string
		retry   bool
		missing bool
	}{
		{403, `{"reqId":"req-7","statusCode":403,"message":"You are not allowed","error":"PermissionDenied"}`,
			"HTTP 403: You are not allowed (reqId req-7)", false, false},
		// No message: the error's name.
		{404, `{"reqId":"req-8","statusCode":404,"error":"NotFound"}`, "HTTP 404: NotFound (reqId req-8)", false, true},
		// A validation error: the whole body, bounded.
		{422, `{"reqId":"req-9","statusCode":422,"message":[{"path":"environment"}],"error":"ValidationFailure"}`,
			`HTTP 422: {"reqId":"req-9","statusCode":422,"message":[{"path":"environment"}]`, false, false},
		// Not JSON: only the status.
		{502, `<html>Bad gateway</html>`, "HTTP 502", true, false},
		// The token echoed back is redacted.
		{500, `{"reqId":"r","message":"bad token tok-123"}`, "HTTP 500: bad token [redacted] (reqId r)", true, false},
	}
	for _, tc := range cases {
		set(tc.status, tc.body)
		_, err := c.list(context.Background(), f, "", 1)
		var ce *callError
		if !errors.As(err, &ce) {
			t.Errorf("%d: %v", tc.status, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || ce.retry != tc.retry || errors.Is(err, sources.ErrNotFound) != tc.missing {
			t.Errorf("%d: %v (retry %v)", tc.status, err, ce.retry)
		}
		if strings.Contains(err.Error(), "tok-123") {
			t.Errorf("%d: the token is in the error", tc.status)
		}
	}

	// 200 answers that are not Infisical's list.
	for _, b := range []string{`{}`, `{"secrets":null}`, `[]`, `{"secrets":[{"secretKey":1}]}`, ``} {
		set(200, b)
		_, err := c.list(context.Background(), f, "", 1)
		var ce *callError
		if !errors.As(err, &ce) || ce.retry || !strings.Contains(err.Error(), "not the JSON Infisical sends") {
			t.Errorf("%q: %v", b, err)
		}
	}
	set(200, `{"nothing":true}`)
	if _, err := c.retrieve(context.Background(), target{Key: "K", Version: 1, Folder: f}, 1); err == nil || !strings.Contains(err.Error(), "not the JSON") {
		t.Errorf("get without a secret: %v", err)
	}
	// A 304 nobody asked for is not "not modified".
	set(304, "")
	if _, err := c.list(context.Background(), f, "", 1); err == nil || errors.Is(err, errNotModified) {
		t.Errorf("unasked 304: %v", err)
	}
}

func TestResponseBound(t *testing.T) {
	t.Parallel()
	ws := newWireServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"secrets":[{"secretKey":"A","secretValue":"`)
		chunk := strings.Repeat("x", 1<<20)
		for i := 0; i < maxResponse>>20; i++ {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `"}]}`)
	})
	c := testClient(t, ws)
	_, err := c.list(context.Background(), folder{ProjectID: "p", Environment: "dev", Path: "/"}, "", 1)
	var ce *callError
	if !errors.As(err, &ce) || ce.retry || !strings.Contains(err.Error(), "larger than 16777216 bytes") {
		t.Errorf("%v", err)
	}
}

// A value the server hid (the identity may list but not read values) is an
// error naming the key, never the mask as a value nor a missing key.
func TestHiddenValue(t *testing.T) {
	t.Parallel()
	ws := newWireServer(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v3/secrets/raw/") {
			answer(w, 200, `{"secret":{"secretKey":"HIDDEN","secretValue":"<hidden-by-infisical>","secretValueHidden":true}}`)
			return
		}
		answer(w, 200, `{"secrets":[{"secretKey":"HIDDEN","secretValue":"<hidden-by-infisical>","secretValueHidden":true},`+
			`{"secretKey":"SHOWN","secretValue":"ok","secretValueHidden":false}],`+
			`"imports":[{"secrets":[{"secretKey":"HIDDEN","secretValue":"from-import"},{"secretKey":"IMP","secretValue":"<hidden-by-infisical>","secretValueHidden":true}]}]}`)
	})
	b := New(Config{Getenv: env(envDomain, ws.srv.URL, envToken, "tok-123", envProjectID, "p", envEnvironment, "dev")})
	ctx := context.Background()
	s, err := b.Read(ctx, "SHOWN", nil)
	if err != nil || string(s.Bytes()) != "ok" {
		t.Fatalf("SHOWN: %v", err)
	}
	for _, key := range []string{"HIDDEN", "IMP"} {
		_, err := b.Read(ctx, key, nil)
		if err == nil || errors.Is(err, sources.ErrNotFound) || !strings.Contains(err.Error(), "secret "+key+" in project p, environment dev, folder /: Infisical hid its value") ||
			strings.Contains(err.Error(), "hidden-by-infisical") {
			t.Errorf("%s: %v", key, err)
		}
	}
	_, err = b.Read(ctx, "HIDDEN", map[string][]string{"version": {"2"}})
	if err == nil || !strings.Contains(err.Error(), "secret HIDDEN in project p") || !strings.Contains(err.Error(), "secretValueHidden") {
		t.Errorf("pinned version: %v", err)
	}
	if n := ws.count(); n != 2 {
		t.Errorf("%d requests, want one list and one get", n)
	}
}

func writeTestFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
