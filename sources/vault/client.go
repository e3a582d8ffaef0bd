package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/hushinit/hush/sources/internal/remote"
)

// client is hush's use of vault/api's Client: vault/api reads every VAULT_*
// variable exactly as the vault CLI does (address, agent address, TLS,
// namespace, headers, proxy, rate limit, SRV lookup, ...), builds the
// transport, and sends the requests. hush keeps on top of it:
//
//   - one retry policy: vault/api's is switched off (MaxRetries 0) and
//     hush's loop (call) retries until the caller's deadline, or
//     VAULT_MAX_RETRIES times for a background call;
//   - the raw-response calls, with every answer bounded (maxResponse) at
//     the transport and decoded as it streams in;
//   - hush's token given per request, never VAULT_TOKEN picked up behind
//     the auth method's back;
//   - no response wrapping for hush's own reads, whatever VAULT_WRAP_TTL
//     says (the child may want it; hush needs the plain answer);
//   - redirects followed by net/http within VAULT_ADDR's origin only
//     (remote.SameOrigin), vault/api's own following switched off, because
//     it would carry the token to whatever address a standby names.
type client struct {
	api        *api.Client
	addr       string
	maxRetries int // VAULT_MAX_RETRIES: retries of a background call
}

// maxResponse bounds what hush reads of one answer: secrets are at most
// 1 MiB, and no answer hush asks for is much larger.
const maxResponse = 8 << 20

// Vault's address variables (vault/api's names).
const (
	envAddr      = "VAULT_ADDR"
	envAgentAddr = "VAULT_AGENT_ADDR"
)

// newClient builds the client from the VAULT_* variables; nothing touches
// the network. requestTimeout bounds each request (HUSH_VAULT_REQUEST_TIMEOUT,
// else VAULT_CLIENT_TIMEOUT when set, else 10s).
func newClient(getenv func(string) string, requestTimeout time.Duration, timeoutSet bool) (*client, error) {
	// vault/api would fall back to https://127.0.0.1:8200, which in a
	// container is nothing: say what to set instead of timing out.
	if getenv(envAddr) == "" && getenv(envAgentAddr) == "" {
		return nil, fmt.Errorf("no Vault address: set %s (or %s for a Vault Agent or Proxy)", envAddr, envAgentAddr)
	}
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, configError(cfg.Error)
	}
	retries := min(cfg.MaxRetries, maxRetriesCap)
	cfg.MaxRetries = 0
	if timeoutSet || getenv("VAULT_CLIENT_TIMEOUT") == "" {
		cfg.Timeout = requestTimeout
	}
	redirects := 1 // vault/api's rule: one redirect, a standby to the active node
	if cfg.DisableRedirects {
		redirects = 0
	}
	cfg.DisableRedirects = true
	cfg.HttpClient.CheckRedirect = remote.SameOrigin(redirects)
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, configError(err)
	}
	// Bound every answer at the transport. Set after NewClient, which
	// wants the *http.Transport itself to set up a unix:// address; the
	// client keeps cfg.HttpClient and uses whatever transport it holds.
	cfg.HttpClient.Transport = boundedTransport{base: cfg.HttpClient.Transport}
	c.ClearToken() // hush's auth method decides the token, per request
	c.SetWrappingLookupFunc(func(string, string) string { return "" })
	return &client{api: c, addr: c.Address(), maxRetries: retries}, nil
}

// configError reports a bad VAULT_* setting, bounded and on one line.
func configError(err error) error {
	return fmt.Errorf("Vault client settings: %s", remote.Quote(err.Error(), nil))
}

// boundedTransport bounds every answer's body, error answers included
// (vault/api reads those whole to find Vault's messages).
type boundedTransport struct{ base http.RoundTripper }

func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if resp != nil && resp.Body != nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{&remote.LimitedBody{R: resp.Body, Limit: maxResponse}, resp.Body}
	}
	return resp, err
}

func (c *client) address() string { return c.addr }

// response is Vault's answer envelope. Data is left as it came, a slice
// of the answer: a secret's document is cut out of it rather than decoded
// into maps and encoded again, so that a big secret is held about once.
type response struct {
	LeaseID       string    `json:"lease_id"`
	LeaseDuration int       `json:"lease_duration"`
	Renewable     bool      `json:"renewable"`
	Data          rawJSON   `json:"data"`
	Auth          *authInfo `json:"auth"`
}

type authInfo struct {
	ClientToken   string `json:"client_token"`
	LeaseDuration int    `json:"lease_duration"`
	Renewable     bool   `json:"renewable"`
}

// rawJSON is a JSON value kept as the bytes of the answer it is part of,
// without a copy: the answer is hush's own buffer, decoded with
// json.Unmarshal (never a Decoder, which reuses its buffer), and nothing
// else holds it.
type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = nil
		return nil
	}
	*r = b
	return nil
}

// fields decodes a small object (a mount, a token lookup, an unwrapped
// secret id), numbers as written; nil when it is not an object.
func (r rawJSON) fields() map[string]any {
	if len(r) == 0 {
		return nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return nil
	}
	return m
}

// empty reports whether the value is absent, null or an empty object.
func (r rawJSON) empty() bool {
	t := bytes.TrimSpace(r)
	return len(t) == 0 || string(t) == "null" || (len(t) >= 2 && t[0] == '{' && len(bytes.TrimSpace(t[1:len(t)-1])) == 0)
}

// read is a GET with token. A 404 is (nil, nil), as with vault/api's
// Logical().Read, unless the answer still carries data (a deleted KV v2
// version comes with its metadata).
func (c *client) read(ctx context.Context, path string, query url.Values, token string) (*response, error) {
	r, status, err := c.send(ctx, http.MethodGet, path, query, nil, token)
	if status == http.StatusNotFound {
		if r != nil && !r.Data.empty() {
			return r, nil
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// write is a PUT with a JSON body and the given token ("" for none).
func (c *client) write(ctx context.Context, path string, body any, token string) (*response, error) {
	r, _, err := c.send(ctx, http.MethodPut, path, nil, body, token)
	return r, err
}

// send makes one request through vault/api and decodes the answer: a 2xx
// one, and a 404 (whose body may still hold data). Any other status of 300
// or more is a *statusError with Vault's messages kept for statusMeaning,
// never for printing.
func (c *client) send(ctx context.Context, method, path string, query url.Values, body any, token string) (*response, int, error) {
	if err := remote.CheckToken("the Vault token", token); err != nil {
		return nil, 0, err
	}
	r := c.api.NewRequest(method, "/v1/"+path)
	r.ClientToken = token
	r.WrapTTL = ""
	if query != nil {
		r.Params = query
	}
	if body != nil {
		if err := r.SetJSONBody(body); err != nil {
			return nil, 0, fmt.Errorf("encoding the request: %w", err)
		}
	}
	// The raw call, not Logical(): hush reads the body itself, bounded and
	// once, with a token of its choosing per request (none for a login,
	// the wrapping token to unwrap).
	resp, err := c.api.RawRequestWithContext(ctx, r) //nolint:staticcheck // see above
	if resp != nil && resp.Body != nil {
		defer resp.Body.Close()
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	var re *api.ResponseError
	switch {
	case errors.As(err, &re):
		var out *response
		if status == http.StatusNotFound {
			out, _ = decodeResponse(resp) // vault/api kept the body for us
		}
		return out, status, &statusError{status: re.StatusCode, errors: re.Errors, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	case err != nil:
		return nil, status, err
	case status >= 300:
		// A redirect hush did not follow (VAULT_DISABLE_REDIRECTS).
		return nil, status, &statusError{status: status}
	}
	out, err := decodeResponse(resp)
	if err != nil {
		return nil, status, err
	}
	return out, status, nil
}

// decodeResponse reads an answer into one buffer of its announced size
// and decodes the envelope in place; an empty body is no response.
func decodeResponse(resp *api.Response) (*response, error) {
	hint := int(min(max(resp.ContentLength, 0), maxResponse))
	buf := bytes.NewBuffer(make([]byte, 0, hint+bytes.MinRead))
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		if errors.Is(err, remote.ErrTooLarge) {
			return nil, fmt.Errorf("Vault's answer is %w of %d bytes", remote.ErrTooLarge, maxResponse)
		}
		return nil, err
	}
	raw := buf.Bytes()
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	r := &response{}
	if err := json.Unmarshal(raw, r); err != nil {
		return nil, errors.New("Vault's answer is not JSON")
	}
	return r, nil
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
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return min(time.Duration(n)*time.Second, 30*time.Second)
	}
	return 0
}
