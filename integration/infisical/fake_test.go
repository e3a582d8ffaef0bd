package infisical

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeInfisical is a FAKE Infisical server. No real Infisical can run here:
// the server needs Node.js, PostgreSQL and Redis services, none of which is
// packaged for this machine. So this httptest server speaks the wire format
// that github.com/infisical/go-sdk v0.8.0 speaks, as a probe pinned it
// (reference/client-libraries.md, section B, "Exact wire shapes"):
//
//   - POST /api/v1/auth/universal-auth/login   {"clientId","clientSecret","organizationSlug"?}
//   - POST /api/v1/auth/kubernetes-auth/login  {"identityId","jwt","organizationSlug"?}
//   - POST /api/v1/auth/token/renew            {"accessToken"}, no Authorization header
//   - POST /api/v1/auth/token/revoke           {"accessToken"}, Bearer header
//     login and renew answer {"accessToken","expiresIn","accessTokenMaxTTL","tokenType":"Bearer"}
//   - GET  /api/v3/secrets/raw?environment=&expandSecretReferences=&include_imports=&recursive=&secretPath=&workspaceId=&workspaceSlug=
//     (every parameter always sent, workspaceSlug empty when an ID is used),
//     Bearer header, optional If-None-Match; 200 {"secrets":[S],"imports":[...]}
//     with an optional ETag, or 304 without a body
//   - GET  /api/v3/secrets/raw/KEY?environment=&expandSecretReferences=&include_imports=&secretPath=&type=shared&workspaceId=[&version=N]
//     200 {"secret":S}
//   - errors: {"reqId","statusCode","message","error"}
//
// Requests that stray from those shapes are recorded as violations and fail
// the test; so are a User-Agent other than hush's and a GET that declares a
// body (go-sdk sent "infisical-go-sdk" and no Content-Type on GETs; hush
// sends "hush"). On top of the wire format the fake can change a secret,
// fail with a status, stall, expire every token, hide a value as the server
// does for an identity without read-value permission, and count requests.
type fakeInfisical struct {
	srv *httptest.Server

	mu         sync.Mutex
	clients    map[string]string // universal auth client ID -> secret
	k8s        map[string]string // Kubernetes identity ID -> the JWT it accepts now
	k8sJWTs    []string          // every JWT presented to Kubernetes login
	tokens     map[string]*fakeToken
	issued     []string // every token handed out, for the no-leak checks
	ttl        int64    // expiresIn of new tokens, seconds
	maxTTL     int64
	projects   map[string]string // slug -> ID
	folders    map[folderKey]*fakeFolder
	etags      bool
	fault      *fault
	stalled    chan struct{} // non-nil: requests wait until it is closed
	pages      int           // the next requests answered by a proxy's HTML page
	counts     map[string]int
	listQuery  []url.Values // every list request's query
	violations []string
	reqSeq     int
	hidden     map[string]bool // keys whose value the identity may not read
	// wire is every request as it came (see wireRequest), for the
	// go-sdk oracle test.
	wire []wireRequest
	// grace is how long past its advertised expiry a token still works:
	// a test that checks renewals gives it, so that a client scheduled
	// late on a loaded machine still renews instead of being refused.
	grace time.Duration
}

type fakeToken struct {
	expires  time.Time
	maxUntil time.Time
	revoked  bool
	static   bool
}

type folderKey struct{ project, env, path string }

type fakeFolder struct {
	secrets map[string][]string // key -> values by version (1-based)
	order   []string
	imports []folderKey
}

// fault makes requests to some endpoints fail with status, count times
// (-1: until cleared).
type fault struct {
	endpoints map[string]bool // nil: every endpoint
	status    int
	count     int
}

// Endpoint names used by counts and faults.
const (
	epLogin    = "universal-auth-login"
	epK8s      = "kubernetes-auth-login"
	epRenew    = "renew"
	epRevoke   = "revoke"
	epList     = "list"
	epGet      = "get"
	epNotMod   = "list-304"
	epRejected = "rejected-token"
)

func newFake(t *testing.T, tls bool) *fakeInfisical {
	t.Helper()
	f := &fakeInfisical{
		clients:  map[string]string{},
		k8s:      map[string]string{},
		tokens:   map[string]*fakeToken{},
		ttl:      3600,
		maxTTL:   2592000,
		projects: map[string]string{},
		folders:  map[folderKey]*fakeFolder{},
		counts:   map[string]int{},
	}
	if tls {
		f.srv = httptest.NewUnstartedServer(f)
		// A client that rejects the certificate makes the server log
		// handshake errors; they are expected in the CA tests.
		f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		f.srv.StartTLS()
	} else {
		f.srv = httptest.NewServer(f)
	}
	t.Cleanup(func() {
		f.unstall()
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, v := range f.violations {
			t.Errorf("wire-format violation: %s", v)
		}
	})
	return f
}

func (f *fakeInfisical) URL() string { return f.srv.URL }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// addClient registers a universal auth identity.
func (f *fakeInfisical) addClient(id, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clients[id] = secret
}

// setK8sJWT sets the one JWT Kubernetes login accepts for identity.
func (f *fakeInfisical) setK8sJWT(identity, jwt string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.k8s[identity] = jwt
}

// staticToken registers an access token that exists without a login.
func (f *fakeInfisical) staticToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := "st." + randomHex(16)
	f.tokens[tok] = &fakeToken{static: true, expires: time.Now().Add(time.Hour)}
	f.issued = append(f.issued, tok)
	return tok
}

func (f *fakeInfisical) setTTL(ttl, maxTTL int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ttl, f.maxTTL = ttl, maxTTL
}

// setGrace lets tokens work for d past their advertised expiry.
func (f *fakeInfisical) setGrace(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grace = d
}

func (f *fakeInfisical) addProject(id, slug string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.projects[slug] = id
}

// set writes (a new version of) a secret.
func (f *fakeInfisical) set(project, env, folder, key, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fk := folderKey{project, env, folder}
	fo := f.folders[fk]
	if fo == nil {
		fo = &fakeFolder{secrets: map[string][]string{}}
		f.folders[fk] = fo
	}
	if _, ok := fo.secrets[key]; !ok {
		fo.order = append(fo.order, key)
	}
	fo.secrets[key] = append(fo.secrets[key], value)
}

// delete removes a secret.
func (f *fakeInfisical) delete(project, env, folder, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fo := f.folders[folderKey{project, env, folder}]
	delete(fo.secrets, key)
	for i, k := range fo.order {
		if k == key {
			fo.order = append(fo.order[:i], fo.order[i+1:]...)
			break
		}
	}
}

// addImport makes folder import the secrets of another folder.
func (f *fakeInfisical) addImport(to, from folderKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.folders[to].imports = append(f.folders[to].imports, from)
}

// hideValue makes the server withhold key's value, in every folder, as
// Infisical does when the identity may see a secret but not read its value:
// "secretValue":"<hidden-by-infisical>", "secretValueHidden":true.
func (f *fakeInfisical) hideValue(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hidden == nil {
		f.hidden = map[string]bool{}
	}
	f.hidden[key] = true
}

// maybeHide applies hideValue to a secret object S.
func (f *fakeInfisical) maybeHide(s map[string]any) map[string]any {
	if key, _ := s["secretKey"].(string); f.hidden[key] {
		s["secretValue"] = "<hidden-by-infisical>"
		s["secretValueHidden"] = true
	}
	return s
}

func (f *fakeInfisical) enableETags() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.etags = true
}

// fail makes the next count requests to endpoints (all when none given)
// answer status; count -1 means until clearFault.
func (f *fakeInfisical) fail(status, count int, endpoints ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	flt := &fault{status: status, count: count}
	if len(endpoints) > 0 {
		flt.endpoints = map[string]bool{}
		for _, e := range endpoints {
			flt.endpoints[e] = true
		}
	}
	f.fault = flt
}

func (f *fakeInfisical) clearFault() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = nil
}

// proxyPage makes the next n requests get a 200 HTML page, as from a
// captive proxy or a wrong URL.
func (f *fakeInfisical) proxyPage(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pages = n
}

// stall makes every request wait, without an answer, until unstall or
// until the client gives up.
func (f *fakeInfisical) stall() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stalled == nil {
		f.stalled = make(chan struct{})
	}
}

func (f *fakeInfisical) unstall() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stalled != nil {
		close(f.stalled)
		f.stalled = nil
	}
}

// expireTokens invalidates every token handed out so far: the next call
// with one gets 401.
func (f *fakeInfisical) expireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.tokens {
		t.revoked = true
	}
}

func (f *fakeInfisical) count(endpoint string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[endpoint]
}

func (f *fakeInfisical) lastListQuery() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.listQuery) == 0 {
		return nil
	}
	return f.listQuery[len(f.listQuery)-1]
}

func (f *fakeInfisical) lastK8sJWT() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.k8sJWTs) == 0 {
		return ""
	}
	return f.k8sJWTs[len(f.k8sJWTs)-1]
}

// issuedTokens returns every token handed out, for leak checks.
func (f *fakeInfisical) issuedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issued...)
}

func (f *fakeInfisical) violate(format string, args ...any) {
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
}

// ServeHTTP routes like the Infisical API. Counts and faults apply before
// the answer; a stall holds the request until released or abandoned.
func (f *fakeInfisical) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep, key := route(r)
	f.record(ep, r)
	f.mu.Lock()
	stalled := f.stalled
	f.mu.Unlock()
	if stalled != nil {
		select {
		case <-stalled:
		case <-r.Context().Done():
			return
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqSeq++
	if ep == "" {
		f.violate("%s %s: no such endpoint", r.Method, r.URL.Path)
		f.errorBody(w, http.StatusNotFound, "NotFound", "Route "+r.Method+":"+r.URL.Path+" not found")
		return
	}
	f.counts[ep]++
	if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "hush") {
		f.violate("%s %s: User-Agent %q", r.Method, r.URL.Path, ua)
	}
	if r.Method == http.MethodGet && r.Header.Get("Content-Type") != "" {
		f.violate("%s %s: Content-Type on a GET", r.Method, r.URL.Path)
	}
	if f.pages > 0 {
		f.pages--
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<html><body>Welcome to the proxy</body></html>")
		return
	}
	if flt := f.fault; flt != nil && flt.count != 0 && (flt.endpoints == nil || flt.endpoints[ep]) {
		if flt.count > 0 {
			flt.count--
		}
		f.errorBody(w, flt.status, http.StatusText(flt.status), "injected failure")
		return
	}
	switch ep {
	case epLogin:
		f.universalLogin(w, r)
	case epK8s:
		f.k8sLogin(w, r)
	case epRenew:
		f.renew(w, r)
	case epRevoke:
		f.revoke(w, r)
	case epList:
		f.list(w, r)
	case epGet:
		f.get(w, r, key)
	}
}

// wireRequest is a request reduced to what Infisical acts on: method,
// path, query (sorted), the headers that matter and the JSON body (keys
// sorted), every access token and credential written as a placeholder so
// that two clients' requests compare equal.
type wireRequest struct {
	endpoint, method, path, query  string
	auth, ifNoneMatch, contentType string
	body                           string
}

func (wr wireRequest) String() string {
	return fmt.Sprintf("%s %s?%s auth=%q if-none-match=%q content-type=%q body=%s",
		wr.method, wr.path, wr.query, wr.auth, wr.ifNoneMatch, wr.contentType, wr.body)
}

// record keeps r's wire shape; r.Body is read and put back.
func (f *fakeInfisical) record(ep string, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(strings.NewReader(string(raw)))
	f.mu.Lock()
	defer f.mu.Unlock()
	placeholders := map[string]string{}
	for _, tok := range f.issued {
		placeholders[tok] = "<access token>"
	}
	for _, s := range f.clients {
		placeholders[s] = "<client secret>"
	}
	for _, jwt := range f.k8s {
		placeholders[jwt] = "<jwt>"
	}
	wr := wireRequest{
		endpoint: ep, method: r.Method, path: r.URL.EscapedPath(), query: r.URL.Query().Encode(),
		ifNoneMatch: r.Header.Get("If-None-Match"), contentType: r.Header.Get("Content-Type"),
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		wr.auth = "Bearer " + or(placeholders[tok], "<unknown token>")
	} else {
		wr.auth = r.Header.Get("Authorization")
	}
	if len(raw) > 0 {
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			for k, v := range m {
				if s, ok := v.(string); ok && placeholders[s] != "" {
					m[k] = placeholders[s]
				}
			}
			b, _ := json.Marshal(m)
			wr.body = string(b)
		} else {
			wr.body = "<not JSON>"
		}
	}
	f.wire = append(f.wire, wr)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// takeWire returns the requests recorded since the last call.
func (f *fakeInfisical) takeWire() []wireRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.wire
	f.wire = nil
	return w
}

func route(r *http.Request) (endpoint, key string) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/api/v1/auth/universal-auth/login":
		return epLogin, ""
	case r.Method == http.MethodPost && p == "/api/v1/auth/kubernetes-auth/login":
		return epK8s, ""
	case r.Method == http.MethodPost && p == "/api/v1/auth/token/renew":
		return epRenew, ""
	case r.Method == http.MethodPost && p == "/api/v1/auth/token/revoke":
		return epRevoke, ""
	case r.Method == http.MethodGet && p == "/api/v3/secrets/raw":
		return epList, ""
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/v3/secrets/raw/") && len(p) > len("/api/v3/secrets/raw/"):
		return epGet, strings.TrimPrefix(p, "/api/v3/secrets/raw/")
	}
	return "", ""
}

// errorBody writes Infisical's error shape.
func (f *fakeInfisical) errorBody(w http.ResponseWriter, status int, name, msg string) {
	writeJSON(w, status, map[string]any{
		"reqId":      fmt.Sprintf("req-%d", f.reqSeq),
		"statusCode": status,
		"message":    msg,
		"error":      name,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeBody reads a JSON body with exactly the allowed fields (required
// ones non-empty).
func (f *fakeInfisical) decodeBody(r *http.Request, required []string, optional ...string) (map[string]string, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.violate("%s: Content-Type %q", r.URL.Path, ct)
	}
	var m map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m); err != nil {
		f.violate("%s: body is not a JSON object: %v", r.URL.Path, err)
		return nil, false
	}
	out := map[string]string{}
	allowed := map[string]bool{}
	for _, k := range append(append([]string{}, required...), optional...) {
		allowed[k] = true
	}
	for k, v := range m {
		if !allowed[k] {
			f.violate("%s: unexpected body field %q", r.URL.Path, k)
			continue
		}
		s, ok := v.(string)
		if !ok {
			f.violate("%s: field %q is not a string", r.URL.Path, k)
			continue
		}
		out[k] = s
	}
	for _, k := range required {
		if out[k] == "" {
			f.violate("%s: missing body field %q", r.URL.Path, k)
			return out, false
		}
	}
	return out, true
}

// credentials reads the body of a call that carries its credentials there
// (a login, a renewal) and no Authorization header; it answers 400 itself
// when the body is wrong.
func (f *fakeInfisical) credentials(w http.ResponseWriter, r *http.Request, required []string, optional ...string) (map[string]string, bool) {
	f.noAuthHeader(r)
	body, ok := f.decodeBody(r, required, optional...)
	if !ok {
		f.errorBody(w, http.StatusBadRequest, "BadRequest", "invalid body")
	}
	return body, ok
}

func (f *fakeInfisical) noAuthHeader(r *http.Request) {
	if h := r.Header.Get("Authorization"); h != "" {
		f.violate("%s: sent an Authorization header", r.URL.Path)
	}
}

func (f *fakeInfisical) issue(w http.ResponseWriter) {
	tok := randomHex(24)
	now := time.Now()
	f.tokens[tok] = &fakeToken{expires: now.Add(time.Duration(f.ttl) * time.Second), maxUntil: now.Add(time.Duration(f.maxTTL) * time.Second)}
	f.issued = append(f.issued, tok)
	writeJSON(w, http.StatusOK, map[string]any{
		"accessToken":       tok,
		"expiresIn":         f.ttl,
		"accessTokenMaxTTL": f.maxTTL,
		"tokenType":         "Bearer",
	})
}

func (f *fakeInfisical) universalLogin(w http.ResponseWriter, r *http.Request) {
	body, ok := f.credentials(w, r, []string{"clientId", "clientSecret"}, "organizationSlug")
	if !ok {
		return
	}
	if secret, known := f.clients[body["clientId"]]; !known || secret != body["clientSecret"] {
		f.errorBody(w, http.StatusUnauthorized, "UnauthorizedError", "Invalid credentials")
		return
	}
	f.issue(w)
}

func (f *fakeInfisical) k8sLogin(w http.ResponseWriter, r *http.Request) {
	body, ok := f.credentials(w, r, []string{"identityId", "jwt"}, "organizationSlug")
	if !ok {
		return
	}
	f.k8sJWTs = append(f.k8sJWTs, body["jwt"])
	if want, known := f.k8s[body["identityId"]]; !known || want != body["jwt"] {
		f.errorBody(w, http.StatusUnauthorized, "UnauthorizedError", "Kubernetes token review failed")
		return
	}
	f.issue(w)
}

func (f *fakeInfisical) renew(w http.ResponseWriter, r *http.Request) {
	body, ok := f.credentials(w, r, []string{"accessToken"})
	if !ok {
		return
	}
	t := f.tokens[body["accessToken"]]
	now := time.Now()
	switch {
	case t == nil || t.revoked || t.static || now.After(t.expires.Add(f.grace)):
		f.errorBody(w, http.StatusUnauthorized, "UnauthorizedError", "Invalid token")
		return
	case now.Add(time.Duration(f.ttl) * time.Second).After(t.maxUntil):
		f.errorBody(w, http.StatusBadRequest, "BadRequest", "Failed to renew MI access token due to TTL")
		return
	}
	t.expires = now.Add(time.Duration(f.ttl) * time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"accessToken":       body["accessToken"],
		"expiresIn":         f.ttl,
		"accessTokenMaxTTL": f.maxTTL,
		"tokenType":         "Bearer",
	})
}

// bearer checks the Authorization header; it answers 401 itself when the
// token is unknown, expired or revoked.
func (f *fakeInfisical) bearer(w http.ResponseWriter, r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		f.violate("%s: Authorization header %q is not a Bearer token", r.URL.Path, redactHeader(h))
		f.errorBody(w, http.StatusUnauthorized, "UnauthorizedError", "Missing token")
		return "", false
	}
	t := f.tokens[tok]
	if t == nil || t.revoked || time.Now().After(t.expires.Add(f.grace)) {
		f.counts[epRejected]++
		f.errorBody(w, http.StatusUnauthorized, "UnauthorizedError", "Token expired or revoked")
		return "", false
	}
	return tok, true
}

func redactHeader(h string) string {
	if len(h) > 10 {
		return h[:10] + "..."
	}
	return h
}

func (f *fakeInfisical) revoke(w http.ResponseWriter, r *http.Request) {
	tok, ok := f.bearer(w, r)
	if !ok {
		return
	}
	body, ok := f.decodeBody(r, []string{"accessToken"})
	if !ok || body["accessToken"] != tok {
		f.errorBody(w, http.StatusBadRequest, "BadRequest", "invalid body")
		return
	}
	f.tokens[tok].revoked = true
	writeJSON(w, http.StatusOK, map[string]any{"message": "Successfully revoked access token"})
}

// checkQuery records a violation unless q has exactly the parameters in
// exact (present, possibly empty) plus any of optional.
func (f *fakeInfisical) checkQuery(r *http.Request, exact []string, optional ...string) url.Values {
	q := r.URL.Query()
	allowed := map[string]bool{}
	for _, k := range exact {
		allowed[k] = true
		if _, ok := q[k]; !ok {
			f.violate("%s: query parameter %q missing (the SDK always sends it)", r.URL.Path, k)
		}
	}
	for _, k := range optional {
		allowed[k] = true
	}
	for k, v := range q {
		if !allowed[k] {
			f.violate("%s: unexpected query parameter %q", r.URL.Path, k)
		}
		if len(v) > 1 {
			f.violate("%s: query parameter %q repeated", r.URL.Path, k)
		}
	}
	for _, k := range []string{"expandSecretReferences", "include_imports", "recursive"} {
		if v, ok := q[k]; ok && v[0] != "true" && v[0] != "false" {
			f.violate("%s: %s=%q is not a boolean", r.URL.Path, k, v[0])
		}
	}
	return q
}

// resolveProject maps workspaceId / workspaceSlug to a project ID.
func (f *fakeInfisical) resolveProject(r *http.Request, q url.Values) string {
	id, slug := q.Get("workspaceId"), q.Get("workspaceSlug")
	switch {
	case id != "" && slug != "":
		f.violate("%s: both workspaceId and workspaceSlug set", r.URL.Path)
		return id
	case id != "":
		return id
	case slug != "":
		return f.projects[slug]
	}
	f.violate("%s: neither workspaceId nor workspaceSlug set", r.URL.Path)
	return ""
}

// serverPath normalises secretPath as the server does: trimmed, no
// trailing slash.
func serverPath(p string) string {
	p = strings.TrimSpace(p)
	if p == "" {
		return "/"
	}
	return path.Clean("/" + p)
}

var refPattern = regexp.MustCompile(`\$\{([A-Za-z0-9_.-]+)\}`)

// value returns a secret's current value, expanding ${KEY} references to
// keys of the same folder when asked to (the server's simplest reference
// form).
func (fo *fakeFolder) value(key string, version int, expand bool) (string, bool) {
	vs, ok := fo.secrets[key]
	if !ok || version > len(vs) {
		return "", false
	}
	v := vs[len(vs)-1]
	if version > 0 {
		v = vs[version-1]
	}
	if expand {
		v = refPattern.ReplaceAllStringFunc(v, func(m string) string {
			ref := refPattern.FindStringSubmatch(m)[1]
			if rv, ok := fo.value(ref, 0, false); ok {
				return rv
			}
			return m
		})
	}
	return v, true
}

// secretObject is the secret shape S the server sends.
func secretObject(fk folderKey, key, value string, version int, withPath bool) map[string]any {
	id := fmt.Sprintf("%x", sha256.Sum256([]byte(fk.project+fk.env+fk.path+key)))[:24]
	s := map[string]any{
		"id":                    id,
		"_id":                   id,
		"workspace":             fk.project,
		"environment":           fk.env,
		"version":               version,
		"type":                  "shared",
		"secretKey":             key,
		"secretValue":           value,
		"secretComment":         "",
		"secretValueHidden":     false,
		"secretReminderNote":    nil,
		"skipMultilineEncoding": false,
		"createdAt":             "2026-01-01T00:00:00.000Z",
		"updatedAt":             "2026-01-01T00:00:00.000Z",
		"tags":                  []any{},
		"secretMetadata":        []any{},
	}
	if withPath {
		s["secretPath"] = fk.path
	}
	return s
}

func (f *fakeInfisical) list(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.bearer(w, r); !ok {
		return
	}
	q := f.checkQuery(r, []string{"environment", "expandSecretReferences", "include_imports", "recursive", "secretPath", "workspaceId", "workspaceSlug"})
	f.listQuery = append(f.listQuery, q)
	project := f.resolveProject(r, q)
	fk := folderKey{project, q.Get("environment"), serverPath(q.Get("secretPath"))}
	fo := f.folders[fk]
	if fo == nil {
		f.errorBody(w, http.StatusNotFound, "NotFound", fmt.Sprintf("Folder with path '%s' in environment with slug '%s' not found", fk.path, fk.env))
		return
	}
	expand := q.Get("expandSecretReferences") == "true"
	secrets := []any{}
	for _, k := range fo.order {
		v, _ := fo.value(k, 0, expand)
		secrets = append(secrets, f.maybeHide(secretObject(fk, k, v, len(fo.secrets[k]), false)))
	}
	imports := []any{}
	if q.Get("include_imports") == "true" {
		for _, ik := range fo.imports {
			imf := f.folders[ik]
			if imf == nil {
				continue
			}
			is := []any{}
			for _, k := range imf.order {
				v, _ := imf.value(k, 0, expand)
				is = append(is, f.maybeHide(secretObject(ik, k, v, len(imf.secrets[k]), false)))
			}
			imports = append(imports, map[string]any{
				"secretPath": ik.path, "environment": ik.env, "folderId": "folder-" + ik.path, "secrets": is,
			})
		}
	}
	body, err := json.Marshal(map[string]any{"secrets": secrets, "imports": imports})
	if err != nil {
		panic(err)
	}
	if f.etags {
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:16]) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			f.counts[epNotMod]++
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (f *fakeInfisical) get(w http.ResponseWriter, r *http.Request, key string) {
	if _, ok := f.bearer(w, r); !ok {
		return
	}
	q := f.checkQuery(r, []string{"environment", "expandSecretReferences", "include_imports", "secretPath", "type"},
		"workspaceId", "workspaceSlug", "version")
	if q.Get("type") != "shared" {
		f.violate("%s: type=%q", r.URL.Path, q.Get("type"))
	}
	if _, ok := q["workspaceId"]; ok && q.Get("workspaceSlug") != "" {
		f.violate("%s: workspaceSlug sent with workspaceId", r.URL.Path)
	}
	version := 0
	if v := q.Get("version"); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &version); err != nil || version < 1 {
			f.violate("%s: version=%q", r.URL.Path, v)
		}
	}
	project := f.resolveProject(r, q)
	fk := folderKey{project, q.Get("environment"), serverPath(q.Get("secretPath"))}
	fo := f.folders[fk]
	var v string
	ok := fo != nil
	if ok {
		v, ok = fo.value(key, version, q.Get("expandSecretReferences") == "true")
	}
	if !ok {
		f.errorBody(w, http.StatusNotFound, "NotFound", fmt.Sprintf("Secret with name '%s' not found", key))
		return
	}
	if version == 0 {
		version = len(fo.secrets[key])
	}
	writeJSON(w, http.StatusOK, map[string]any{"secret": f.maybeHide(secretObject(fk, key, v, version, true))})
}

// sortedKeys is for messages.
func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
