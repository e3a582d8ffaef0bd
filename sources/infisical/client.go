package infisical

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	authapi "github.com/infisical/go-sdk/packages/api/auth"
	secretsapi "github.com/infisical/go-sdk/packages/api/secrets"
	sdkerrors "github.com/infisical/go-sdk/packages/errors"

	"github.com/hushinit/hush/sources"
)

// How hush calls Infisical.
//
// hush uses the go-sdk's API layer (packages/api/auth, packages/api/secrets:
// the functions the SDK's client calls, with the SDK's request and response
// types) on a resty client it builds for each call, instead of the SDK's
// InfisicalClient. That client takes no context, sets no timeout, retries
// 4xx in its backoff mode but not 5xx otherwise, logs to stderr, re-logs in to
// Kubernetes with a stale JWT, and runs a token goroutine that wakes up every
// second; with its API layer every call honours a context and a per-call
// timeout, hush decides what is retried, nothing is logged, and nothing runs
// between polls. The wire format is the SDK's own.
const (
	userAgent = "hush (infisical-go-sdk v0.8.0)"
	// maxResponse bounds one response body: a folder of many secrets, each
	// of them at most sources.MaxSecretSize for hush to use.
	maxResponse = 16 << 20
	// readAttempts bounds the attempts of one call at start-up and during a
	// rotation re-read (5xx and network errors) when there is no deadline;
	// with one (always, in hush) they go on until the deadline. A poll
	// makes one attempt and its loop backs off instead.
	readAttempts = 5
	backoffBase  = 250 * time.Millisecond
	backoffCap   = 5 * time.Second
	// maxMessage bounds how much of a server's error message hush repeats.
	maxMessage = 200
)

var errNotModified = errors.New("not modified")

// client holds the connection settings and the access token. It is safe for
// concurrent use.
type client struct {
	s         *settings
	log       *slog.Logger
	transport http.RoundTripper

	authLock chan struct{} // one login or renewal at a time, waited for with a context
	mu       sync.Mutex
	tok      *token
	used     bool // credentials were read to log in: report them for scrubbing
}

// token is an access token and what is known of its lifetime.
type token struct {
	value     string
	obtained  time.Time
	ttl       time.Duration // 0: no known expiry
	maxUntil  time.Time     // zero: no maximum lifetime
	fromLogin bool          // hush created it, so hush may revoke it
}

func newClient(s *settings, log *slog.Logger) *client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
	t.MaxIdleConnsPerHost = 4
	return &client{s: s, log: log, transport: t, authLock: make(chan struct{}, 1)}
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

// callState is what the transport saw during one call.
type callState struct {
	mu          sync.Mutex
	err         error // the transport's own error
	tooLarge    bool
	contentType string // of the last response
}

type callTransport struct {
	base http.RoundTripper
	st   *callState
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.st.mu.Lock()
		t.st.err = err
		t.st.mu.Unlock()
		return nil, err
	}
	t.st.mu.Lock()
	t.st.contentType = resp.Header.Get("Content-Type")
	t.st.mu.Unlock()
	resp.Body = &limitedBody{rc: resp.Body, left: maxResponse, st: t.st}
	return resp, nil
}

// limitedBody fails a body longer than maxResponse instead of reading it
// all into memory.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	st   *callState
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		b.st.mu.Lock()
		b.st.tooLarge = true
		b.st.mu.Unlock()
		return 0, fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.st.mu.Lock()
		b.st.tooLarge = true
		b.st.mu.Unlock()
		return n, fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// quietLogger drops resty's own warnings: hush logs what matters itself.
type quietLogger struct{}

func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Debugf(string, ...any) {}

// resty builds the resty client for one call: the shared transport, ctx on
// every request, no retries of its own, the bearer token when given.
func (c *client) resty(ctx context.Context, st *callState, bearer string) *resty.Client {
	rc := resty.NewWithClient(&http.Client{Transport: &callTransport{base: c.transport, st: st}}).
		SetBaseURL(c.s.base).
		SetLogger(quietLogger{}).
		SetHeader("User-Agent", userAgent).
		SetRetryCount(0)
	rc.OnBeforeRequest(func(_ *resty.Client, r *resty.Request) error {
		r.SetContext(ctx)
		return nil
	})
	if bearer != "" {
		rc.SetAuthScheme("Bearer").SetAuthToken(bearer)
	}
	return rc
}

// once makes one call within the per-call timeout and classifies its
// failure. secrets are credentials the server might echo back: they are
// removed from any message.
func (c *client) once(ctx context.Context, op, bearer string, secrets []string, fn func(*resty.Client) error) error {
	callCtx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	st := &callState{}
	start := time.Now()
	err := fn(c.resty(callCtx, st, bearer))
	if err == nil {
		st.mu.Lock()
		ct := st.contentType
		st.mu.Unlock()
		// resty decodes only JSON and leaves the result empty otherwise:
		// a proxy's 200 page must not read as "no secrets here".
		if !strings.Contains(strings.ToLower(ct), "json") {
			return &callError{op: op, msg: fmt.Sprintf("the answer is not JSON (Content-Type %q): a proxy in the way, or the wrong INFISICAL_DOMAIN?", cleanMessage(ct, nil))}
		}
		c.log.Debug("infisical request", "op", op, "duration", time.Since(start).Round(time.Millisecond))
		return nil
	}
	var nm *sdkerrors.NotModifiedError
	if errors.As(err, &nm) {
		c.log.Debug("infisical request", "op", op, "status", 304, "duration", time.Since(start).Round(time.Millisecond))
		return errNotModified
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: no answer from Infisical: %w", op, ctx.Err())
	}
	ce := &callError{op: op}
	var ae *sdkerrors.APIError
	st.mu.Lock()
	terr, tooLarge := st.err, st.tooLarge
	st.mu.Unlock()
	switch {
	case errors.As(err, &ae):
		ce.status = ae.StatusCode
		ce.msg = cleanMessage(ae.ErrorMessage, secrets)
		ce.reqID = cleanMessage(ae.ReqId, secrets)
		ce.retry = ae.StatusCode >= 500
	case tooLarge:
		ce.msg = fmt.Sprintf("the response is larger than %d bytes", maxResponse)
	case callCtx.Err() != nil:
		ce.msg = fmt.Sprintf("no answer within %s (%s)", c.s.timeout, envTimeout)
		ce.retry = true
	case terr != nil:
		ce.msg = cleanMessage(terr.Error(), secrets)
		ce.retry = !isCertError(terr)
	default:
		// A response that could not be decoded: retrying will not help.
		// The decoder's message is not repeated, because encoding/json
		// quotes numbers and characters of the document.
		ce.msg = "the answer is not the JSON Infisical sends (a proxy in the way, or the wrong INFISICAL_DOMAIN?)"
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

// cleanMessage makes a server's text safe for one log line: no credential,
// no control character, bounded length.
func cleanMessage(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxMessage {
		s = s[:maxMessage] + "..."
	}
	return s
}

// retry runs call again while it fails with a retryable error, waiting a
// capped, jittered exponential backoff in between: until the next wait
// would pass ctx's deadline (the start-up deadline, or the rotation
// controller's), or for attempts in all when ctx has none. attempts <= 1
// (a poll) means one call. Giving up before the deadline keeps the cause in
// the error instead of a bare "deadline exceeded".
func (c *client) retry(ctx context.Context, attempts int, call func() error) error {
	for attempt := 1; ; attempt++ {
		err := call()
		var ce *callError
		if err == nil || !errors.As(err, &ce) || !ce.retry || attempts <= 1 {
			return err
		}
		wait := backoff(attempt)
		if deadline, ok := ctx.Deadline(); ok {
			if time.Until(deadline) < wait {
				return fmt.Errorf("%w (gave up at the deadline after %d attempts)", err, attempt)
			}
		} else if attempt >= attempts {
			return err
		}
		if attempt == 1 {
			c.log.Warn("Infisical request failed; retrying", "err", err.Error())
		} else {
			c.log.Debug("Infisical request failed; retrying", "op", ce.op, "attempt", attempt, "retry_in", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up at the deadline after %d attempts)", err, attempt)
		case <-t.C:
		}
	}
}

// backoff is 250ms, 500ms, 1s, ... capped at 5s, each ±20%.
func backoff(attempt int) time.Duration {
	d := backoffBase << (attempt - 1)
	if d > backoffCap || d <= 0 {
		d = backoffCap
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// authed runs an authenticated call: with a valid token (logging in or
// renewing first when needed), retrying per attempts, and — once — logging
// in again after a 401.
func (c *client) authed(ctx context.Context, op string, attempts int, fn func(*resty.Client) error) error {
	relogged := false
	for {
		var used *token
		err := c.retry(ctx, attempts, func() error {
			tok, err := c.token(ctx, attempts)
			if err != nil {
				return loginError{err} // retried inside already
			}
			used = tok
			return c.once(ctx, op, tok.value, []string{tok.value}, fn)
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
	select {
	case c.authLock <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the Infisical login: %w", ctx.Err())
	}
	defer func() { <-c.authLock }()
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
	return tok, nil
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
	if old != nil && old.canRenew(now) {
		tok, err := c.renew(ctx, old, attempts)
		if err == nil {
			return tok, nil
		}
		var ce *callError
		if !errors.As(err, &ce) || ce.status == 0 || ce.status >= 500 {
			return nil, err // the server is not answering: a login would not either
		}
		c.log.Info("Infisical refused to renew the access token; logging in again", "status", ce.status)
	}
	return c.login(ctx, attempts)
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
		call    func(*resty.Client) (authapi.MachineIdentityAuthLoginResponse, error)
	)
	switch a.method {
	case methodUniversal:
		secret, err := a.secret.value(a.getenv)
		if err != nil {
			return nil, err
		}
		op, secrets = "universal auth login", []string{secret}
		req := authapi.UniversalAuthLoginRequest{ClientID: id, ClientSecret: secret, OrganizationSlug: a.org}
		call = func(rc *resty.Client) (authapi.MachineIdentityAuthLoginResponse, error) {
			return authapi.CallUniversalAuthLogin(rc, req)
		}
	case methodKubernetes:
		b, err := readLimited(a.jwt, maxCredentialFile)
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
		req := authapi.KubernetesAuthLoginRequest{IdentityID: id, JWT: jwt, OrganizationSlug: a.org}
		call = func(rc *resty.Client) (authapi.MachineIdentityAuthLoginResponse, error) {
			return authapi.CallKubernetesAuthLogin(rc, req)
		}
	default:
		return nil, fmt.Errorf("unsupported auth method %q", a.method)
	}
	var resp authapi.MachineIdentityAuthLoginResponse
	start := time.Now()
	err = c.retry(ctx, attempts, func() error {
		return c.once(ctx, op, "", secrets, func(rc *resty.Client) (err error) {
			resp, err = call(rc)
			return err
		})
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

func (c *client) renew(ctx context.Context, old *token, attempts int) (*token, error) {
	var resp authapi.MachineIdentityAuthLoginResponse
	start := time.Now()
	err := c.retry(ctx, attempts, func() error {
		return c.once(ctx, "renewing the access token", "", []string{old.value}, func(rc *resty.Client) (err error) {
			resp, err = authapi.CallRenewAccessToken(rc, authapi.RenewAccessTokenRequest{AccessToken: old.value})
			return err
		})
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

// tokenFrom records a login or renewal answer. The lifetime counts from
// when the request was sent, so hush never believes a token younger than it
// is.
func tokenFrom(resp authapi.MachineIdentityAuthLoginResponse, sent, maxUntil time.Time) *token {
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
	return c.once(ctx, "revoking the access token", tok.value, []string{tok.value}, func(rc *resty.Client) error {
		_, err := authapi.CallRevokeAccessToken(rc, authapi.RevokeAccessTokenRequest{AccessToken: tok.value})
		return err
	})
}

// listing is a folder's secrets as one list call returned them.
type listing struct {
	values map[string]string
	etag   string
	at     time.Time
}

// list makes the one call that reads a folder: GET /api/v3/secrets/raw,
// with If-None-Match when an ETag is known (errNotModified on 304). Secrets
// of imported folders are added when the folder has no key of that name,
// first import first — what the SDK's ListSecrets does.
func (c *client) list(ctx context.Context, f folder, etag string, attempts int) (*listing, error) {
	var res secretsapi.ListSecretsV3RawResponse
	req := secretsapi.ListSecretsV3RawRequest{
		ProjectID:              f.ProjectID,
		ProjectSlug:            f.ProjectSlug,
		Environment:            f.Environment,
		SecretPath:             f.Path,
		ExpandSecretReferences: f.Expand,
		IncludeImports:         f.Imports,
		IfNoneMatch:            etag,
	}
	err := c.authed(ctx, "listing secrets ("+f.String()+")", attempts, func(rc *resty.Client) (err error) {
		res, err = secretsapi.CallListSecretsV3(nil, rc, req)
		return err
	})
	if err != nil {
		return nil, notFoundOn404(err)
	}
	l := &listing{values: make(map[string]string, len(res.Secrets)), etag: res.ETag, at: time.Now()}
	for _, s := range res.Secrets {
		l.values[s.SecretKey] = s.SecretValue
	}
	if f.Imports {
		for _, imp := range res.Imports {
			for _, s := range imp.Secrets {
				if _, ok := l.values[s.SecretKey]; !ok {
					l.values[s.SecretKey] = s.SecretValue
				}
			}
		}
	}
	return l, nil
}

// retrieve reads one pinned version of one secret: GET
// /api/v3/secrets/raw/KEY?version=N.
func (c *client) retrieve(ctx context.Context, t target, attempts int) (string, error) {
	var res secretsapi.RetrieveSecretV3RawResponse
	req := secretsapi.RetrieveSecretV3RawRequest{
		SecretKey:              t.Key,
		ProjectID:              t.Folder.ProjectID,
		ProjectSlug:            t.Folder.ProjectSlug,
		Environment:            t.Folder.Environment,
		SecretPath:             t.Folder.Path,
		Type:                   "shared",
		IncludeImports:         t.Folder.Imports,
		ExpandSecretReferences: t.Folder.Expand,
		Version:                t.Version,
	}
	op := fmt.Sprintf("reading %s version %d (%s)", t.Key, t.Version, t.Folder)
	err := c.authed(ctx, op, attempts, func(rc *resty.Client) (err error) {
		res, err = secretsapi.CallRetrieveSecretV3(nil, rc, req)
		return err
	})
	if err != nil {
		return "", notFoundOn404(err)
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
