package vault

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hushinit/hush/sources/internal/remote"
)

// client is a small Vault HTTP API client. hush does not link
// github.com/hashicorp/vault/api: that package's initialisation (some forty
// regular expressions compiled at program start, plus its dependencies')
// costs about a millisecond of CPU and 300 KB of heap at EVERY start of
// hush, Vault reference or not, and its dependencies about 1.2 MB of
// binary; both are budgets. The client reads the same VAULT_* variables as
// vault/api's DefaultConfig and NewClient (see readClientEnv), speaks the
// same wire protocol (X-Vault-Token, X-Vault-Request, X-Vault-Namespace,
// one redirect followed) and never asks for response wrapping.
type client struct {
	base       *url.URL // scheme, host and path prefix of the API
	http       *http.Client
	headers    http.Header // sent with every request
	srvLookup  bool
	limiter    *limiter
	maxRetries int

	mu    sync.RWMutex
	token string
}

// maxResponse bounds what hush reads of one answer: secrets are at most
// 1 MiB, and no answer hush asks for is much larger.
const maxResponse = 8 << 20

// clientEnv is the client's configuration from the VAULT_* variables.
type clientEnv struct {
	addr             string
	caCert, caPath   string
	caCertBytes      []byte
	clientCert       string
	clientKey        string
	skipVerify       bool
	serverName       string
	proxy            string
	namespace        string
	headers          map[string]string
	maxRetries       int
	clientTimeout    time.Duration
	srvLookup        bool
	disableRedirects bool
	rate             float64
	burst            int
}

// readClientEnv reads the variables vault/api's DefaultConfig and NewClient
// read (VAULT_TOKEN and VAULT_WRAP_TTL aside: the auth method decides the
// token, and hush never asks for wrapped answers).
func readClientEnv(getenv func(string) string) (clientEnv, error) {
	e := clientEnv{addr: "https://127.0.0.1:8200", maxRetries: 2}
	if v := getenv("VAULT_ADDR"); v != "" {
		e.addr = v
	}
	if v := getenv("VAULT_AGENT_ADDR"); v != "" {
		e.addr = v
	}
	e.caCert, e.caPath = getenv("VAULT_CACERT"), getenv("VAULT_CAPATH")
	if v := getenv("VAULT_CACERT_BYTES"); v != "" {
		e.caCertBytes = []byte(v)
	}
	e.clientCert, e.clientKey = getenv("VAULT_CLIENT_CERT"), getenv("VAULT_CLIENT_KEY")
	if (e.clientCert == "") != (e.clientKey == "") {
		return e, errors.New("VAULT_CLIENT_CERT and VAULT_CLIENT_KEY must be set together")
	}
	e.serverName = getenv("VAULT_TLS_SERVER_NAME")
	e.namespace = getenv("VAULT_NAMESPACE")
	e.proxy = getenv("VAULT_HTTP_PROXY")
	if v := getenv("VAULT_PROXY_ADDR"); v != "" {
		e.proxy = v
	}
	var err error
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"VAULT_SKIP_VERIFY", &e.skipVerify}, {"VAULT_SRV_LOOKUP", &e.srvLookup}, {"VAULT_DISABLE_REDIRECTS", &e.disableRedirects}} {
		if v := getenv(b.name); v != "" {
			if *b.dst, err = strconv.ParseBool(v); err != nil {
				return e, fmt.Errorf("could not parse %s", b.name)
			}
		}
	}
	if v := getenv("VAULT_MAX_RETRIES"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return e, fmt.Errorf("could not parse VAULT_MAX_RETRIES")
		}
		e.maxRetries = int(min(n, maxRetriesCap))
	}
	if v := getenv("VAULT_CLIENT_TIMEOUT"); v != "" {
		if e.clientTimeout, err = parseDurationSecond(v); err != nil || e.clientTimeout <= 0 {
			return e, fmt.Errorf("could not parse VAULT_CLIENT_TIMEOUT")
		}
	}
	if v := getenv("VAULT_RATE_LIMIT"); v != "" {
		if e.rate, e.burst, err = parseRateLimit(v); err != nil {
			return e, err
		}
	}
	if v := getenv("VAULT_HEADERS"); v != "" {
		var raw map[string]any
		if err := json.Unmarshal([]byte(v), &raw); err != nil {
			return e, errors.New("could not parse VAULT_HEADERS (a JSON object)")
		}
		e.headers = map[string]string{}
		for k, val := range raw {
			if strings.HasPrefix(http.CanonicalHeaderKey(k), "X-Vault-") {
				return e, fmt.Errorf("VAULT_HEADERS: header %s: X-Vault-* headers are Vault's own", k)
			}
			s, ok := val.(string)
			if !ok {
				return e, fmt.Errorf("VAULT_HEADERS: header %s is not a string", k)
			}
			e.headers[k] = s
		}
	}
	return e, nil
}

// parseDurationSecond reads "30" as 30s and anything else as a Go duration,
// as Vault does.
func parseDurationSecond(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// parseRateLimit reads VAULT_RATE_LIMIT: "rate" or "rate:burst".
func parseRateLimit(v string) (float64, int, error) {
	r, b, hasBurst := strings.Cut(v, ":")
	rate, err := strconv.ParseFloat(r, 64)
	if err != nil || rate <= 0 {
		return 0, 0, errors.New("VAULT_RATE_LIMIT was provided but incorrectly formatted")
	}
	burst := int(rate)
	if hasBurst {
		if burst, err = strconv.Atoi(b); err != nil || burst < 0 {
			return 0, 0, errors.New("VAULT_RATE_LIMIT was provided but incorrectly formatted")
		}
	}
	return rate, max(burst, 1), nil
}

// newClient builds a client; nothing touches the network.
func newClient(e clientEnv, requestTimeout time.Duration) (*client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: e.skipVerify, ServerName: e.serverName}
	if e.caCertBytes != nil || e.caCert != "" || e.caPath != "" {
		pool, err := loadCAs(e)
		if err != nil {
			return nil, err
		}
		tlsConf.RootCAs = pool
	}
	if e.clientCert != "" {
		cert, err := tls.LoadX509KeyPair(e.clientCert, e.clientKey)
		if err != nil {
			return nil, fmt.Errorf("VAULT_CLIENT_CERT/VAULT_CLIENT_KEY: %w", err)
		}
		tlsConf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	dialer := &net.Dialer{Timeout: requestTimeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          8,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if e.proxy != "" {
		u, err := url.Parse(e.proxy)
		if err != nil {
			return nil, fmt.Errorf("VAULT_PROXY_ADDR/VAULT_HTTP_PROXY: %w", err)
		}
		transport.Proxy = http.ProxyURL(u)
	}
	base, err := url.Parse(e.addr)
	if err != nil {
		return nil, fmt.Errorf("VAULT_ADDR %q: %w", e.addr, err)
	}
	if socket, ok := strings.CutPrefix(e.addr, "unix://"); ok {
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", socket)
		}
		base = &url.URL{Scheme: "http", Host: "localhost"}
	} else if base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("VAULT_ADDR %q is not an http(s):// or unix:// address", e.addr)
	}
	c := &client{base: base, headers: http.Header{}, srvLookup: e.srvLookup, maxRetries: e.maxRetries}
	c.headers.Set("X-Vault-Request", "true")
	if e.namespace != "" {
		c.headers.Set("X-Vault-Namespace", e.namespace)
	}
	for k, v := range e.headers {
		c.headers.Add(k, v)
	}
	if e.rate > 0 {
		c.limiter = &limiter{rate: e.rate, burst: float64(e.burst), tokens: float64(e.burst)}
	}
	c.http = &http.Client{
		Transport: transport,
		Timeout:   requestTimeout,
		// Like vault/api, one redirect (a standby to the active node) is
		// followed, none with VAULT_DISABLE_REDIRECTS; unlike it, only
		// within VAULT_ADDR's origin, because the redirected request
		// carries hush's token. A standby that names another address is
		// refused with an error saying so.
		CheckRedirect: remote.SameOrigin(redirectLimit(e.disableRedirects)),
	}
	return c, nil
}

func redirectLimit(disabled bool) int {
	if disabled {
		return 0
	}
	return 1
}

// loadCAs reads VAULT_CACERT_BYTES, else VAULT_CACERT, else every PEM file
// in VAULT_CAPATH, as go-rootcerts does for vault/api.
func loadCAs(e clientEnv) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	add := func(name string, pem []byte) error {
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", name)
		}
		return nil
	}
	switch {
	case e.caCertBytes != nil:
		return pool, add("VAULT_CACERT_BYTES", e.caCertBytes)
	case e.caCert != "":
		b, err := os.ReadFile(e.caCert)
		if err != nil {
			return nil, fmt.Errorf("VAULT_CACERT: %w", err)
		}
		return pool, add("VAULT_CACERT "+e.caCert, b)
	}
	entries, err := os.ReadDir(e.caPath)
	if err != nil {
		return nil, fmt.Errorf("VAULT_CAPATH: %w", err)
	}
	for _, ent := range entries {
		if ent.IsDir() {
			continue
		}
		p := filepath.Join(e.caPath, ent.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("VAULT_CAPATH: %w", err)
		}
		if err := add("VAULT_CAPATH file "+p, b); err != nil {
			return nil, err
		}
	}
	return pool, nil
}

func (c *client) address() string {
	return c.base.String()
}

func (c *client) setToken(t string) {
	c.mu.Lock()
	c.token = t
	c.mu.Unlock()
}

func (c *client) currentToken() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// response is Vault's answer envelope.
type response struct {
	LeaseID       string         `json:"lease_id"`
	LeaseDuration int            `json:"lease_duration"`
	Renewable     bool           `json:"renewable"`
	Data          map[string]any `json:"data"`
	Auth          *authInfo      `json:"auth"`
	Errors        []string       `json:"errors"`
}

type authInfo struct {
	ClientToken   string `json:"client_token"`
	LeaseDuration int    `json:"lease_duration"`
	Renewable     bool   `json:"renewable"`
}

// read is a GET with hush's token. A 404 is (nil, nil), as with vault/api's
// Logical().Read, unless the answer still carries data (a deleted KV v2
// version comes with its metadata).
func (c *client) read(ctx context.Context, path string, query url.Values) (*response, error) {
	r, status, err := c.send(ctx, http.MethodGet, path, query, nil, c.currentToken())
	if status == http.StatusNotFound {
		if r != nil && len(r.Data) > 0 {
			return r, nil
		}
		return nil, nil
	}
	return r, err
}

// write is a PUT with a JSON body and the given token ("" for none).
func (c *client) write(ctx context.Context, path string, body any, token string) (*response, error) {
	r, _, err := c.send(ctx, http.MethodPut, path, nil, body, token)
	return r, err
}

// send makes one request and decodes the answer. A status of 400 or more
// is an error (with the status); the decoded body comes back with it.
func (c *client) send(ctx context.Context, method, path string, query url.Values, body any, token string) (*response, int, error) {
	if c.limiter != nil {
		if err := c.limiter.wait(ctx); err != nil {
			return nil, 0, err
		}
	}
	if err := remote.CheckToken("the Vault token", token); err != nil {
		return nil, 0, err
	}
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/" + path
	u.RawQuery = query.Encode()
	host := u.Host
	if c.srvLookup && u.Port() == "" {
		if _, addrs, err := net.DefaultResolver.LookupSRV(ctx, "http", "tcp", u.Hostname()); err == nil && len(addrs) > 0 {
			u.Host = fmt.Sprintf("%s:%d", strings.TrimSuffix(addrs[0].Target, "."), addrs[0].Port)
		}
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, 0, err
	}
	req.Host = host
	for k, vs := range c.headers {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if len(raw) > maxResponse {
		return nil, resp.StatusCode, fmt.Errorf("Vault's answer is larger than %d bytes", maxResponse)
	}
	var r *response
	if len(bytes.TrimSpace(raw)) > 0 {
		r = &response{}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(r); err != nil {
			r = nil
			if resp.StatusCode < 400 {
				return nil, resp.StatusCode, errors.New("Vault's answer is not JSON")
			}
		}
	}
	if resp.StatusCode >= 400 {
		e := &statusError{status: resp.StatusCode, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
		if r != nil {
			e.errors = r.Errors
		}
		return r, resp.StatusCode, e
	}
	return r, resp.StatusCode, nil
}

// statusError is an HTTP error status from Vault. Its text never includes
// the server's messages (see requestError).
type statusError struct {
	status     int
	errors     []string
	retryAfter time.Duration
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d", e.status) }

func retryAfter(v string) time.Duration {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return min(time.Duration(n)*time.Second, 30*time.Second)
	}
	return 0
}

// limiter is a token bucket for VAULT_RATE_LIMIT.
type limiter struct {
	mu          sync.Mutex
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (l *limiter) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := time.Now()
		if !l.last.IsZero() {
			l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		}
		l.last = now
		if l.tokens >= 1 {
			l.tokens--
			l.mu.Unlock()
			return nil
		}
		need := time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
		l.mu.Unlock()
		if !sleep(ctx, need) {
			return ctx.Err()
		}
	}
}
