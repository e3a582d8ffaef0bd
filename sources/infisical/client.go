package infisical

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/internal/background"
	"github.com/hushinit/hush/sources/internal/remote"
)

// How hush calls Infisical.
//
// hush speaks Infisical's HTTP API directly with net/http, sending exactly
// the requests Infisical's go-sdk v0.8.0 sends (paths, query
// parameters, headers, JSON bodies, If-None-Match; the wire format is
// pinned by the fake server in integration/infisical), apart from its
// User-Agent, which is "hush". It does not link the SDK: merely importing
// it pulls in the AWS SDK, gRPC, Google Cloud and OpenTelemetry, whose
// package initialisation ran at EVERY start of hush, Infisical reference or
// not (about 8 MB of binary, 7 MiB of idle RSS and 2.5 ms of start-up CPU),
// and its client takes no context, sets no timeout, logs to stderr and
// wakes up every second. Here every call honours a context and a per-call
// timeout, hush decides what is retried, nothing is logged but hush's own
// lines, and nothing runs between polls.
const (
	userAgent = "hush"
	// maxResponse bounds one response body: a folder of many secrets, each
	// of them at most sources.MaxSecretSize for hush to use.
	maxResponse = 16 << 20
	// readAttempts bounds the attempts of one call at start-up and during a
	// rotation re-read (5xx and network errors) when there is no deadline;
	// with one (always, in hush) they go on until the deadline. A poll
	// makes one attempt and its loop backs off instead.
	readAttempts = 5
	// maxRedirects is what resty (the SDK's client) follows.
	maxRedirects = 10
)

var errNotModified = errors.New("not modified")

// client holds the connection settings and the access token. It is safe for
// concurrent use.
type client struct {
	s    *settings
	log  *slog.Logger
	http *http.Client

	authLock *remote.Gate   // one login or renewal at a time
	rand     func() float64 // jitter; nil: math/rand
	mu       sync.Mutex
	tok      *token
	used     bool // credentials were read to log in: report them for scrubbing
	// keepCtx is set once the backend is watched: from the first token on,
	// keepAlive renews it until keepCtx ends or the backend's routines
	// stop. keeping: keepAlive runs.
	keepCtx  context.Context
	keeping  bool
	routines *background.Group // the backend's
}

// token is an access token and what is known of its lifetime.
type token struct {
	value     string
	obtained  time.Time
	ttl       time.Duration // 0: no known expiry
	maxUntil  time.Time     // zero: no maximum lifetime
	fromLogin bool          // hush created it, so hush may revoke it
}

func newClient(s *settings, log *slog.Logger, routines *background.Group) *client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
	t.MaxIdleConnsPerHost = 4
	// No client timeout: every call carries its own context (per-call
	// timeout and the caller's deadline). Redirects are followed only
	// within the configured origin: a 307 re-sends a login's body (the
	// client secret, the JWT) and net/http would send the bearer token to
	// another port of the same host, or over plain HTTP.
	hc := &http.Client{Transport: t, CheckRedirect: remote.SameOrigin(maxRedirects)}
	return &client{s: s, log: log, http: hc, authLock: remote.NewGate(), routines: routines}
}

// callError is a failed call, described without any credential or value.
type callError struct {
	op     string
	status int    // HTTP status, 0 when there was no response
	msg    string // the server's message or the transport error
	reqID  string
	retry  bool // 5xx, network error or per-call timeout
	hint   string
}

func (e *callError) Error() string {
	var b strings.Builder
	b.WriteString(e.op)
	b.WriteString(": ")
	if e.status != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.status)
		if e.msg != "" {
			b.WriteString(": " + e.msg)
		}
		if e.reqID != "" {
			b.WriteString(" (reqId " + e.reqID + ")")
		}
	} else {
		b.WriteString(e.msg)
	}
	if e.hint != "" {
		b.WriteString("; " + e.hint)
	}
	return b.String()
}

// request is one call of Infisical's API, as go-sdk v0.8.0 makes it.
type request struct {
	method      string
	path        string     // below the API base ("/v1/auth/token/renew")
	query       url.Values // encoded sorted, empty values included, as resty does
	body        any        // sent as JSON when not nil
	bearer      string     // "Authorization: Bearer" when not empty
	ifNoneMatch string
}

// decodeFunc takes a 2xx answer's headers and JSON body. An error means the
// body is not what Infisical sends.
type decodeFunc func(h http.Header, body []byte) error

// Outcomes of send that are not transport errors, classified by once.
var (
	errTooLarge = fmt.Errorf("the response is larger than %d bytes", maxResponse)
	errBadJSON  = errors.New("the answer is not the JSON Infisical sends (a proxy in the way, or the wrong INFISICAL_DOMAIN?)")
)

// apiError is an answer of status 400 or more: Infisical's error body
// {"reqId","statusCode","message","error"}, read as the SDK reads it.
type apiError struct {
	status int
	msg    string
	reqID  string
}

func (e *apiError) Error() string { return "HTTP " + strconv.Itoa(e.status) }

// notJSONError is a 2xx answer whose Content-Type is not JSON.
type notJSONError struct{ contentType string }

func (e *notJSONError) Error() string { return "not JSON" }

// badStatusError is an answer that is neither 2xx, 304 (when asked for)
// nor an error status: nothing hush can use.
type badStatusError struct{ status int }

func (e *badStatusError) Error() string { return "unexpected status" }

// send makes one request and reads its answer, at most maxResponse bytes
// of it. It returns nil after decode accepted a 2xx JSON answer,
// errNotModified for a 304 to If-None-Match, and otherwise one of the
// outcomes above or the transport's error.
func (c *client) send(ctx context.Context, r request, decode decodeFunc) error {
	u, err := url.Parse(c.s.base + r.path)
	if err != nil {
		return fmt.Errorf("building the request URL: %w", err)
	}
	if r.query != nil {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("User-Agent", userAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	if r.ifNoneMatch != "" {
		req.Header.Set("If-None-Match", r.ifNoneMatch)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err // without the URL
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && r.ifNoneMatch != "" {
		return errNotModified
	}
	raw, err := remote.ReadBody(resp.Body, maxResponse)
	if errors.Is(err, remote.ErrTooLarge) {
		return errTooLarge
	}
	if err != nil {
		return err
	}
	switch s := resp.StatusCode; {
	case s >= 400:
		return parseAPIError(s, raw)
	case s < 200 || s > 299:
		return &badStatusError{status: s}
	}
	// A proxy's 200 page must not read as "no secrets here".
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(strings.ToLower(ct), "json") {
		return &notJSONError{contentType: ct}
	}
	if decode != nil {
		if err := decode(resp.Header, raw); err != nil {
			return errBadJSON
		}
	}
	return nil
}

// parseAPIError reads Infisical's error body as the SDK does: the message
// (for a 422, a validation error, the whole body), else the error's name,
// and the reqId; whatever is not JSON is left out.
func parseAPIError(status int, raw []byte) *apiError {
	e := &apiError{status: status}
	var body struct {
		ReqID   string `json:"reqId"`
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil {
		e.msg = body.Message
		if e.msg == "" {
			e.msg = body.Error
		}
	}
	if status == http.StatusUnprocessableEntity && len(bytes.TrimSpace(raw)) > 0 {
		e.msg = string(raw)
	}
	var id struct {
		ReqID string `json:"reqId"`
	}
	if json.Unmarshal(raw, &id) == nil {
		e.reqID = id.ReqID
	}
	return e
}

// once makes one call within the per-call timeout and classifies its
// failure. secrets are credentials the server might echo back: they are
// removed from any message.
func (c *client) once(ctx context.Context, op string, r request, secrets []string, decode decodeFunc) error {
	if err := remote.CheckToken("the access token", r.bearer); err != nil {
		return &callError{op: op, msg: err.Error()}
	}
	callCtx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	start := time.Now()
	err := c.send(callCtx, r, decode)
	if err == nil {
		c.log.Debug("infisical request", "op", op, "duration", time.Since(start).Round(time.Millisecond))
		return nil
	}
	if errors.Is(err, errNotModified) {
		c.log.Debug("infisical request", "op", op, "status", 304, "duration", time.Since(start).Round(time.Millisecond))
		return errNotModified
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: no answer from Infisical: %w", op, ctx.Err())
	}
	ce := &callError{op: op}
	var (
		ae *apiError
		nj *notJSONError
		bs *badStatusError
	)
	switch {
	case errors.As(err, &ae):
		ce.status = ae.status
		ce.msg = remote.Quote(ae.msg, secrets)
		ce.reqID = remote.Quote(ae.reqID, secrets)
		ce.retry = ae.status >= 500
	case errors.As(err, &nj):
		ce.msg = fmt.Sprintf("the answer is not JSON (Content-Type %q): a proxy in the way, or the wrong INFISICAL_DOMAIN?", remote.Quote(nj.contentType, nil))
	case errors.As(err, &bs):
		ce.status = bs.status
		ce.msg = "not an answer Infisical gives (a proxy in the way, or the wrong INFISICAL_DOMAIN?)"
	case err == errTooLarge:
		ce.msg = err.Error()
	case err == errBadJSON:
		// Retrying will not help. The decoder's message is not repeated,
		// because encoding/json quotes numbers and characters of the
		// document.
		ce.msg = err.Error()
	case remote.IsRedirect(err):
		ce.msg = err.Error() // the next attempt would be redirected again
	case callCtx.Err() != nil:
		ce.msg = fmt.Sprintf("no answer within %s (%s)", c.s.timeout, envTimeout)
		ce.retry = true
	default:
		// The network, TLS, or an answer cut short.
		ce.msg = remote.Quote(err.Error(), secrets)
		ce.retry = !isCertError(err)
	}
	c.log.Debug("infisical request failed", "op", op, "status", ce.status, "duration", time.Since(start).Round(time.Millisecond), "retry", ce.retry)
	return ce
}

// isCertError reports TLS failures that no retry can fix.
func isCertError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		record   tls.RecordHeaderError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &record) || errors.As(err, &verify)
}

// retry runs call again while it fails with a retryable error, with the
// toolkit's back-off in between: until ctx's deadline (the start-up
// deadline, or the rotation controller's) when it has one, else for
// attempts in all. attempts <= 1 (a poll, a background renewal) means one
// call: their loops back off instead.
func (c *client) retry(ctx context.Context, attempts int, call func() error) error {
	_, hasDeadline := ctx.Deadline()
	p := remote.RetryPolicy{
		Persist: hasDeadline && attempts > 1,
		Retries: attempts - 1,
		Backoff: remote.Requests,
		Failed: func(attempt int, err error, wait time.Duration) {
			if attempt == 0 {
				c.log.Warn("Infisical request failed; retrying", "err", err.Error())
			} else {
				c.log.Debug("Infisical request failed; retrying", "attempt", attempt+1, "retry_in", wait.Round(time.Millisecond))
			}
		},
	}
	return remote.Retry(ctx, p, func(context.Context) remote.Attempt {
		err := call()
		var ce *callError
		return remote.Attempt{Err: err, Retry: errors.As(err, &ce) && ce.retry}
	})
}

// authed runs an authenticated call: with a valid token (logging in or
// renewing first when needed), retrying per attempts, and — once — logging
// in again after a 401.
func (c *client) authed(ctx context.Context, op string, attempts int, r request, decode decodeFunc) error {
	relogged := false
	for {
		var used *token
		err := c.retry(ctx, attempts, func() error {
			tok, err := c.token(ctx, attempts)
			if err != nil {
				return loginError{err} // retried inside already
			}
			used = tok
			r.bearer = tok.value
			return c.once(ctx, op, r, []string{tok.value}, decode)
		})
		if le, ok := err.(loginError); ok {
			return le.err
		}
		var ce *callError
		if err == nil || !errors.As(err, &ce) || ce.status != http.StatusUnauthorized || used == nil {
			return err
		}
		if !c.s.auth.renewable() {
			ce.hint = "the access token was refused (expired or revoked?); a plain token cannot be renewed — use universal or Kubernetes auth for long runs"
			return ce
		}
		if relogged {
			return err
		}
		relogged = true
		c.log.Info("Infisical refused the access token; logging in again", "op", op)
		c.drop(used)
	}
}

// loginError carries a failed login or renewal through retry, which must
// not retry it again: it has no Unwrap on purpose.
type loginError struct{ err error }

func (e loginError) Error() string { return e.err.Error() }

// drop forgets tok if it is still the current token, so that the next call
// logs in again.
func (c *client) drop(tok *token) {
	c.mu.Lock()
	if c.tok == tok {
		c.tok = nil
	}
	c.mu.Unlock()
}

// token returns a token that is not near its end: the current one, a
// renewed one, or a new login. Logins and renewals are serialised, so that
// concurrent first reads make one login.
func (c *client) token(ctx context.Context, attempts int) (*token, error) {
	if tok := c.current(); tok != nil && !tok.needsRefresh(time.Now()) {
		return tok, nil
	}
	if err := c.authLock.Enter(ctx, "the Infisical login"); err != nil {
		return nil, err
	}
	defer c.authLock.Leave()
	old := c.current()
	now := time.Now()
	if old != nil && !old.needsRefresh(now) {
		return old, nil
	}
	tok, err := c.refresh(ctx, old, attempts)
	if err != nil {
		// A renewal that failed on the network leaves a token that still
		// works for a while: use it, and renew on the next call.
		if old != nil && !old.expired(time.Now()) && !errors.Is(err, context.Canceled) {
			c.log.Warn("cannot renew the Infisical access token yet; using it until it expires", "err", err.Error())
			return old, nil
		}
		return nil, err
	}
	c.mu.Lock()
	c.tok = tok
	c.mu.Unlock()
	c.startKeepAlive(nil)
	return tok, nil
}

// startKeepAlive starts keepAlive when the backend is watched (ctx given
// now or earlier) and a token exists, unless it runs already.
func (c *client) startKeepAlive(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx != nil {
		c.keepCtx = ctx
	}
	if c.keepCtx == nil || c.keeping || c.tok == nil || c.tok.ttl <= 0 || !c.s.auth.renewable() {
		return
	}
	c.keeping = c.routines.Go(c.keepCtx, c.keepAlive) // refused once the backend is closed
}

func (c *client) current() *token {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok
}

// needsRefresh: two thirds of the token's lifetime have passed.
func (t *token) needsRefresh(now time.Time) bool {
	if t.ttl <= 0 {
		return false
	}
	return now.Sub(t.obtained) >= t.ttl*2/3
}

func (t *token) expired(now time.Time) bool {
	return t.ttl > 0 && now.Sub(t.obtained) >= t.ttl
}

// canRenew: the token is alive and a renewal would not pass its maximum
// lifetime (past it, only a new login helps — the SDK's rule).
func (t *token) canRenew(now time.Time) bool {
	if !t.fromLogin || t.expired(now) {
		return false
	}
	return t.maxUntil.IsZero() || !now.Add(t.ttl).After(t.maxUntil)
}

func (c *client) refresh(ctx context.Context, old *token, attempts int) (*token, error) {
	if c.s.auth.method == methodToken {
		return c.plainToken()
	}
	now := time.Now()
	switch {
	case old == nil:
	case old.canRenew(now):
		tok, err := c.renew(ctx, old, attempts)
		if err == nil {
			return tok, nil
		}
		var ce *callError
		if !errors.As(err, &ce) || ce.status == 0 || ce.status >= 500 {
			return nil, err // the server is not answering: a login would not either
		}
		c.log.Info("logging in to Infisical again", "because", "Infisical refused to renew the access token", "status", ce.status)
	default:
		// Say why a login replaces a renewal: a token that expired
		// unrenewed means hush was late (or Infisical unreachable), which
		// an operator wants to tell from the normal end of a token's
		// maximum lifetime.
		c.log.Info("logging in to Infisical again", "because", old.whyNoRenewal(now))
	}
	return c.login(ctx, attempts)
}

// whyNoRenewal says why canRenew is false.
func (t *token) whyNoRenewal(now time.Time) string {
	switch {
	case !t.fromLogin:
		return "the access token was not obtained by a login"
	case t.expired(now):
		return fmt.Sprintf("the access token expired %s ago without being renewed", now.Sub(t.obtained.Add(t.ttl)).Round(time.Millisecond))
	}
	return "renewing would pass the access token's maximum lifetime (accessTokenMaxTTL)"
}

// keepAlive renews the access token on its own schedule — at about two
// thirds of its lifetime, with jitter — whatever the polls do, and logs in
// again past its maximum lifetime, until ctx ends. A failed renewal is
// tried again a tenth of the TTL later, doubling, while the token lives,
// then by logging in; the first failure is logged as a warning, the rest
// at debug level. A token used by a call in between (which refreshes it when it is
// near its end) simply moves the schedule.
func (c *client) keepAlive(ctx context.Context) {
	defer func() {
		c.mu.Lock()
		c.keeping = false
		c.mu.Unlock()
	}()
	failures := 0
	for {
		tok := c.current()
		if tok == nil || tok.ttl <= 0 || !c.s.auth.renewable() {
			return // nothing to keep alive: the next call logs in
		}
		at := remote.RenewAt(tok.obtained, tok.ttl, c.rand)
		if failures > 0 {
			// Paced by the token's life, as failed polls are by the
			// interval: a tenth of the TTL, doubling.
			at = time.Now().Add(remote.PollDelay(max(tok.ttl/10, time.Second), failures-1, c.rand))
		}
		if !remote.Sleep(ctx, time.Until(at)) {
			return
		}
		if err := c.refreshIfCurrent(ctx, tok); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 1 {
				c.log.Warn("cannot renew the Infisical access token; retrying", "err", err.Error())
			} else {
				c.log.Debug("cannot renew the Infisical access token; retrying", "err", err.Error(), "failures", failures)
			}
			continue
		}
		if failures > 0 {
			c.log.Info("renewed the Infisical access token again", "after_failures", failures)
		}
		failures = 0
	}
}

// refreshIfCurrent renews (or replaces) tok unless another call did it
// first.
func (c *client) refreshIfCurrent(ctx context.Context, tok *token) error {
	if err := c.authLock.Enter(ctx, "the Infisical login"); err != nil {
		return err
	}
	defer c.authLock.Leave()
	if c.current() != tok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*c.s.timeout)
	defer cancel()
	fresh, err := c.refresh(ctx, tok, 1)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.tok = fresh
	c.mu.Unlock()
	return nil
}

// plainToken is INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN or INFISICAL_TOKEN
// (or their _FILE), used as is.
func (c *client) plainToken() (*token, error) {
	c.markUsed()
	v, err := c.s.auth.token.value(c.s.auth.getenv)
	if err != nil {
		return nil, err
	}
	if v == "" {
		return nil, fmt.Errorf("%s is empty", c.s.auth.token.name)
	}
	return &token{value: v, obtained: time.Now()}, nil
}

func (c *client) markUsed() {
	c.mu.Lock()
	c.used = true
	c.mu.Unlock()
}

func (c *client) usedCredentials() []string {
	c.mu.Lock()
	used := c.used
	c.mu.Unlock()
	if !used {
		return nil
	}
	return c.s.auth.usedVars()
}

// login logs in with the configured machine identity, reading its
// credentials afresh: a rotated client secret file or a new projected
// service account token is picked up at every login (the SDK would re-use
// the JWT it first read).
func (c *client) login(ctx context.Context, attempts int) (*token, error) {
	a := c.s.auth
	c.markUsed()
	id, err := a.id.value(a.getenv)
	if err != nil {
		return nil, err
	}
	var (
		op      string
		secrets []string
		r       = request{method: http.MethodPost}
	)
	switch a.method {
	case methodUniversal:
		secret, err := a.secret.value(a.getenv)
		if err != nil {
			return nil, err
		}
		op, secrets = "universal auth login", []string{secret}
		r.path = "/v1/auth/universal-auth/login"
		r.body = universalLoginBody{ClientID: id, ClientSecret: secret, OrganizationSlug: a.org}
	case methodKubernetes:
		b, err := remote.ReadLimited(a.jwt, remote.MaxCredentialFile)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && a.jwtVar == "" {
				return nil, fmt.Errorf("Kubernetes auth: no service account token at %s (set %s)", a.jwt, envK8sTokenPth)
			}
			return nil, fmt.Errorf("Kubernetes auth: %w", err)
		}
		jwt := strings.TrimSpace(string(b))
		if jwt == "" {
			return nil, fmt.Errorf("Kubernetes auth: %s is empty", a.jwt)
		}
		op, secrets = "Kubernetes auth login", []string{jwt}
		r.path = "/v1/auth/kubernetes-auth/login"
		r.body = kubernetesLoginBody{IdentityID: id, JWT: jwt, OrganizationSlug: a.org}
	default:
		return nil, fmt.Errorf("unsupported auth method %q", a.method)
	}
	var resp loginAnswer
	start := time.Now()
	err = c.retry(ctx, attempts, func() error {
		return c.once(ctx, op, r, secrets, decodeInto(&resp))
	})
	if err != nil {
		return nil, err
	}
	if resp.AccessToken == "" {
		return nil, fmt.Errorf("%s: the answer holds no access token", op)
	}
	tok := tokenFrom(resp, start, time.Time{})
	c.log.Info("logged in to Infisical", "method", a.method, "ttl", tok.ttl)
	return tok, nil
}

// renew asks for a new lifetime of old: POST /api/v1/auth/token/renew,
// without an Authorization header, as the SDK does.
func (c *client) renew(ctx context.Context, old *token, attempts int) (*token, error) {
	var resp loginAnswer
	start := time.Now()
	r := request{method: http.MethodPost, path: "/v1/auth/token/renew", body: tokenBody{AccessToken: old.value}}
	err := c.retry(ctx, attempts, func() error {
		return c.once(ctx, "renewing the access token", r, []string{old.value}, decodeInto(&resp))
	})
	if err != nil {
		return nil, err
	}
	if resp.AccessToken == "" {
		return nil, errors.New("renewing the access token: the answer holds no access token")
	}
	tok := tokenFrom(resp, start, old.maxUntil)
	c.log.Debug("renewed the Infisical access token", "ttl", tok.ttl)
	return tok, nil
}

// Request and answer bodies, with the SDK's field names and order.
type (
	universalLoginBody struct {
		ClientID         string `json:"clientId"`
		ClientSecret     string `json:"clientSecret"`
		OrganizationSlug string `json:"organizationSlug,omitempty"`
	}
	kubernetesLoginBody struct {
		IdentityID       string `json:"identityId"`
		JWT              string `json:"jwt"`
		OrganizationSlug string `json:"organizationSlug,omitempty"`
	}
	// tokenBody is the body of renew and revoke.
	tokenBody struct {
		AccessToken string `json:"accessToken"`
	}
	// loginAnswer answers a login or a renewal (seconds).
	loginAnswer struct {
		AccessToken       string `json:"accessToken"`
		ExpiresIn         int64  `json:"expiresIn"`
		AccessTokenMaxTTL int64  `json:"accessTokenMaxTTL"`
		TokenType         string `json:"tokenType"`
	}
	revokeAnswer struct {
		Message string `json:"message"`
	}
	// secretObject is the part of a secret hush reads.
	secretObject struct {
		SecretKey         string `json:"secretKey"`
		SecretValue       string `json:"secretValue"`
		SecretValueHidden bool   `json:"secretValueHidden"`
	}
	listAnswer struct {
		Secrets *[]secretObject `json:"secrets"` // nil: not Infisical's answer
		Imports []struct {
			Secrets []secretObject `json:"secrets"`
		} `json:"imports"`
	}
	getAnswer struct {
		Secret *secretObject `json:"secret"` // nil: not Infisical's answer
	}
)

// decodeInto decodes an answer into a fresh value and stores it in dst
// only when the whole answer decoded, so that a failed attempt leaves
// nothing behind for the next one.
func decodeInto[T any](dst *T) decodeFunc {
	return func(_ http.Header, body []byte) error {
		var v T
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		*dst = v
		return nil
	}
}

// tokenFrom records a login or renewal answer. The lifetime counts from
// when the request was sent, so hush never believes a token younger than it
// is.
func tokenFrom(resp loginAnswer, sent, maxUntil time.Time) *token {
	t := &token{value: resp.AccessToken, obtained: sent, fromLogin: true, maxUntil: maxUntil}
	if resp.ExpiresIn > 0 {
		t.ttl = time.Duration(resp.ExpiresIn) * time.Second
	}
	if maxUntil.IsZero() && resp.AccessTokenMaxTTL > 0 {
		t.maxUntil = sent.Add(time.Duration(resp.AccessTokenMaxTTL) * time.Second)
	}
	return t
}

// revoke gives back a token hush obtained by logging in (never a token the
// user supplied, which may be shared). One attempt, bounded by ctx.
func (c *client) revoke(ctx context.Context) error {
	c.mu.Lock()
	tok := c.tok
	c.tok = nil
	c.mu.Unlock()
	if tok == nil || !tok.fromLogin || tok.expired(time.Now()) {
		return nil
	}
	var resp revokeAnswer
	r := request{method: http.MethodPost, path: "/v1/auth/token/revoke", body: tokenBody{AccessToken: tok.value}, bearer: tok.value}
	return c.once(ctx, "revoking the access token", r, []string{tok.value}, decodeInto(&resp))
}

// listing is a folder's secrets as one list call returned them.
type listing struct {
	values map[string]string
	hidden map[string]bool // keys whose value the server withheld (secretValueHidden)
	etag   string
	at     time.Time
}

// add records one secret, replacing an earlier one of the same key.
func (l *listing) add(s secretObject) {
	if s.SecretValueHidden {
		delete(l.values, s.SecretKey)
		if l.hidden == nil {
			l.hidden = map[string]bool{}
		}
		l.hidden[s.SecretKey] = true
		return
	}
	delete(l.hidden, s.SecretKey)
	l.values[s.SecretKey] = s.SecretValue
}

func (l *listing) has(key string) bool {
	_, ok := l.values[key]
	return ok || l.hidden[key]
}

// lookup returns a key's value. A key whose value Infisical hid is an
// error naming it, never the mask as a value nor a missing key.
func (l *listing) lookup(key string, f folder) (string, bool, error) {
	if l.hidden[key] {
		return "", false, hiddenError(key, f)
	}
	v, ok := l.values[key]
	return v, ok, nil
}

// hiddenError: the identity may see that the secret exists but not read
// its value.
func hiddenError(key string, f folder) error {
	return fmt.Errorf("secret %s in %s: Infisical hid its value (secretValueHidden): "+
		"the machine identity lacks permission to read secret values there; give it a role that may read them", key, f)
}

// list makes the one call that reads a folder: GET /api/v3/secrets/raw,
// with If-None-Match when an ETag is known (errNotModified on 304). Secrets
// of imported folders are added when the folder has no key of that name,
// first import first — what the SDK's ListSecrets does. Every parameter is
// sent, as the SDK sends it, workspaceSlug empty when an ID is used.
func (c *client) list(ctx context.Context, f folder, etag string, attempts int) (*listing, error) {
	path := f.Path
	if path == "" {
		path = "/"
	}
	r := request{
		method: http.MethodGet,
		path:   "/v3/secrets/raw",
		query: url.Values{
			"workspaceId":            {f.ProjectID},
			"workspaceSlug":          {f.ProjectSlug},
			"environment":            {f.Environment},
			"secretPath":             {path},
			"expandSecretReferences": {strconv.FormatBool(f.Expand)},
			"include_imports":        {strconv.FormatBool(f.Imports)},
			"recursive":              {"false"},
		},
		ifNoneMatch: etag,
	}
	var (
		res     listAnswer
		resETag string
	)
	err := c.authed(ctx, "listing secrets ("+f.String()+")", attempts, r, func(h http.Header, body []byte) error {
		var v listAnswer
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		if v.Secrets == nil {
			return errBadJSON
		}
		res, resETag = v, h.Get("ETag")
		return nil
	})
	if err != nil {
		return nil, notFoundOn404(err)
	}
	l := &listing{values: make(map[string]string, len(*res.Secrets)), etag: resETag, at: time.Now()}
	for _, s := range *res.Secrets {
		l.add(s)
	}
	if f.Imports {
		for _, imp := range res.Imports {
			for _, s := range imp.Secrets {
				if !l.has(s.SecretKey) {
					l.add(s)
				}
			}
		}
	}
	return l, nil
}

// retrieve reads one pinned version of one secret: GET
// /api/v3/secrets/raw/KEY?version=N, with workspaceId, else workspaceSlug
// (only one of them, as the SDK sends it).
func (c *client) retrieve(ctx context.Context, t target, attempts int) (string, error) {
	path := t.Folder.Path
	if path == "" {
		path = "/"
	}
	q := url.Values{
		"environment":            {t.Folder.Environment},
		"secretPath":             {path},
		"expandSecretReferences": {strconv.FormatBool(t.Folder.Expand)},
		"include_imports":        {strconv.FormatBool(t.Folder.Imports)},
		"type":                   {"shared"},
	}
	switch {
	case t.Folder.ProjectID != "":
		q.Set("workspaceId", t.Folder.ProjectID)
	case t.Folder.ProjectSlug != "":
		q.Set("workspaceSlug", t.Folder.ProjectSlug)
	default:
		return "", errors.New("no project ID or slug")
	}
	if t.Version != 0 {
		q.Set("version", strconv.Itoa(t.Version))
	}
	r := request{method: http.MethodGet, path: "/v3/secrets/raw/" + t.Key, query: q}
	var res getAnswer
	op := fmt.Sprintf("reading %s version %d (%s)", t.Key, t.Version, t.Folder)
	err := c.authed(ctx, op, attempts, r, func(_ http.Header, body []byte) error {
		var v getAnswer
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		if v.Secret == nil {
			return errBadJSON
		}
		res = v
		return nil
	})
	if err != nil {
		return "", notFoundOn404(err)
	}
	if res.Secret.SecretValueHidden {
		return "", hiddenError(t.Key, t.Folder)
	}
	return res.Secret.SecretValue, nil
}

// notFoundOn404 marks a 404 (no such secret, folder or environment) as
// missing, which an optional reference turns into an unset variable.
func notFoundOn404(err error) error {
	var ce *callError
	if errors.As(err, &ce) && ce.status == http.StatusNotFound {
		return sources.NotFound(err)
	}
	return err
}
