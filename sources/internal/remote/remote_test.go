package remote

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOrigin(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://Vault.example:8200/v1/x": "https://vault.example:8200",
		"https://vault.example/v1/x":      "https://vault.example:443",
		"http://vault.example/":           "http://vault.example:80",
		"http://[::1]:8200":               "http://[::1]:8200",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := Origin(u); got != want {
			t.Errorf("Origin(%s) = %s, want %s", in, got, want)
		}
	}
}

// recorder is a server that records every request it gets: where a
// credential would land if a redirect were followed.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []string // headers and bodies seen
	hits int
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.hits++
		r.got = append(r.got, req.Header.Get("Authorization"), req.Header.Get("X-Vault-Token"), string(b))
		r.mu.Unlock()
		_, _ = io.WriteString(w, "{}")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) saw(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.got {
		if strings.Contains(g, s) {
			return true
		}
	}
	return false
}

// A hostile server redirects (307 keeps the method and the body) to
// another origin: the request that would carry the credential there is
// never made; a redirect within the origin is followed.
func TestSameOrigin(t *testing.T) {
	t.Parallel()
	const secret = "s.credential-1234"
	elsewhere := newRecorder(t)
	var same *httptest.Server
	same = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/away":
			http.Redirect(w, req, elsewhere.srv.URL+"/stolen", http.StatusTemporaryRedirect)
		case "/downgrade":
			http.Redirect(w, req, strings.Replace(same.URL, "https://", "http://", 1)+"/ok", http.StatusTemporaryRedirect)
		case "/here":
			http.Redirect(w, req, "/ok", http.StatusTemporaryRedirect)
		case "/loop":
			http.Redirect(w, req, "/loop", http.StatusTemporaryRedirect)
		default:
			_, _ = io.WriteString(w, "{}")
		}
	}))
	t.Cleanup(same.Close)
	tlsSrv := httptest.NewTLSServer(same.Config.Handler)
	t.Cleanup(tlsSrv.Close)
	same = tlsSrv // the downgrade case redirects from https to http on the same host and port

	do := func(c *http.Client, base, p string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, base+p, bytes.NewReader([]byte(`{"clientSecret":"`+secret+`"}`)))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("X-Vault-Token", secret)
		return c.Do(req)
	}
	tlsClient := tlsSrv.Client()
	tlsClient.CheckRedirect = SameOrigin(3)

	for _, tc := range []struct {
		path    string
		wantErr bool
	}{{"/away", true}, {"/downgrade", true}, {"/here", false}, {"/loop", true}} {
		resp, err := do(tlsClient, tlsSrv.URL, tc.path)
		if resp != nil {
			resp.Body.Close()
		}
		if tc.wantErr != (err != nil) {
			t.Errorf("%s: err = %v", tc.path, err)
		}
		if err != nil && !IsRedirect(err) {
			t.Errorf("%s: not a RedirectError: %v", tc.path, err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error holds the credential", tc.path)
		}
	}
	if elsewhere.hits != 0 || elsewhere.saw(secret) {
		t.Errorf("the other origin got %d requests", elsewhere.hits)
	}
	if resp, err := do(tlsClient, tlsSrv.URL, "/away"); err == nil || !strings.Contains(err.Error(), elsewhere.srv.URL[len("http://"):]) {
		if resp != nil {
			resp.Body.Close()
		}
		t.Errorf("the error does not name where the redirect led: %v", err)
	}

	// limit 0: the redirect itself is the answer, nothing followed.
	none := &http.Client{CheckRedirect: SameOrigin(0)}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, elsewhere.srv.URL, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(plain.Close)
	resp, err := do(none, plain.URL, "/")
	if err != nil || resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("limit 0: %v", err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	if elsewhere.hits != 0 {
		t.Error("limit 0 followed a redirect")
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rnd     float64
		attempt int
		want    time.Duration
	}{
		{0.5, 0, 250 * time.Millisecond},
		{0.5, 1, 500 * time.Millisecond},
		{0.5, 4, 4 * time.Second},
		{0.5, 5, 5 * time.Second},
		{0.5, 60, 5 * time.Second},
		{0, 0, 200 * time.Millisecond},
		{1, 60, 6 * time.Second},
	} {
		b := Requests
		b.Rand = func() float64 { return tc.rnd }
		if got := b.Delay(tc.attempt); got != tc.want {
			t.Errorf("rand %v attempt %d: %s, want %s", tc.rnd, tc.attempt, got, tc.want)
		}
	}
}

func TestPollDelay(t *testing.T) {
	t.Parallel()
	mid := func() float64 { return 0.5 }
	for _, tc := range []struct {
		interval time.Duration
		failures int
		want     time.Duration
	}{
		{30 * time.Second, 0, 30 * time.Second},
		{30 * time.Second, 1, time.Minute},
		{30 * time.Second, 3, 4 * time.Minute},
		{30 * time.Second, 9, 5 * time.Minute},
		{time.Second, 9, 10 * time.Second},
		{10 * time.Minute, 3, 10 * time.Minute},
	} {
		if got := PollDelay(tc.interval, tc.failures, mid); got != tc.want {
			t.Errorf("PollDelay(%s, %d) = %s, want %s", tc.interval, tc.failures, got, tc.want)
		}
	}
	lo := PollDelay(30*time.Second, 0, func() float64 { return 0 })
	hi := PollDelay(30*time.Second, 0, func() float64 { return 0.999999 })
	if lo != 27*time.Second || hi < 32*time.Second || hi > 33*time.Second {
		t.Errorf("jitter: %s..%s", lo, hi)
	}
}

// TestNextPoll: after a success the interval exactly (the phase is kept);
// after failures PollDelay's jittered back-off.
func TestNextPoll(t *testing.T) {
	t.Parallel()
	for _, r := range []float64{0, 0.5, 0.999999} {
		rnd := func() float64 { return r }
		if got := NextPoll(30*time.Second, 0, rnd); got != 30*time.Second {
			t.Errorf("rand %v, no failure: %s, want the interval", r, got)
		}
		if got, want := NextPoll(30*time.Second, 2, rnd), PollDelay(30*time.Second, 2, rnd); got != want {
			t.Errorf("rand %v, 2 failures: %s, want PollDelay's %s", r, got, want)
		}
	}
	if lo, hi := NextPoll(30*time.Second, 1, func() float64 { return 0 }), NextPoll(30*time.Second, 1, func() float64 { return 0.999999 }); lo == hi {
		t.Errorf("a back-off is not jittered: %s", lo)
	}
}

func TestFirstPoll(t *testing.T) {
	t.Parallel()
	if got := FirstPoll(10*time.Second, func() float64 { return 0.25 }); got != 2500*time.Millisecond {
		t.Errorf("FirstPoll = %s", got)
	}
	for range 100 {
		if d := FirstPoll(time.Second, nil); d < 0 || d >= time.Second {
			t.Fatalf("FirstPoll out of the interval: %s", d)
		}
	}
}

func TestRenewAt(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	if got := RenewAt(t0, 30*time.Second, func() float64 { return 0.5 }); got != t0.Add(20*time.Second) {
		t.Errorf("RenewAt = %s", got.Sub(t0))
	}
	if got := RenewAt(t0, 30*time.Second, func() float64 { return 1 }); got.Sub(t0) > 27*time.Second {
		t.Errorf("renewal past nine tenths: %s", got.Sub(t0))
	}
	if !RenewAt(t0, 0, nil).IsZero() {
		t.Error("no TTL: no renewal")
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	fast := Backoff{Base: time.Millisecond, Max: time.Millisecond}
	boom := errors.New("boom")
	calls := 0
	err := Retry(context.Background(), RetryPolicy{Retries: 2, Backoff: fast}, func(context.Context) Attempt {
		calls++
		return Attempt{Err: boom, Retry: true}
	})
	if !errors.Is(err, boom) || calls != 3 {
		t.Errorf("bounded: %d calls, %v", calls, err)
	}
	calls = 0
	err = Retry(context.Background(), RetryPolicy{Persist: true, Backoff: fast}, func(context.Context) Attempt {
		calls++
		return Attempt{Err: boom, Retry: calls < 4}
	})
	if !errors.Is(err, boom) || calls != 4 {
		t.Errorf("until a permanent failure: %d calls, %v", calls, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = Retry(ctx, RetryPolicy{Persist: true, Backoff: Backoff{Base: time.Second, Max: time.Second}}, func(context.Context) Attempt {
		return Attempt{Err: boom, Retry: true}
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "gave up at the deadline") {
		t.Errorf("deadline: %v", err)
	}
}

func TestReadCredential(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if v, err := ReadCredential(write("ok", " tok-1\n"), "X_FILE"); err != nil || v != "tok-1" {
		t.Errorf("ok: %q %v", v, err)
	}
	big := strings.Repeat("k", MaxCredentialFile+1)
	if _, err := ReadCredential(write("big", big), "X_FILE"); !errors.Is(err, ErrTooLarge) || strings.Contains(err.Error(), "kkkk") {
		t.Errorf("big: %v", err)
	}
	if _, err := ReadCredential(write("empty", "\n"), "X_FILE"); err == nil || !strings.Contains(err.Error(), "X_FILE") {
		t.Errorf("empty: %v", err)
	}
	if _, err := ReadCredential(filepath.Join(dir, "missing"), "X_FILE"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestLimitedBody(t *testing.T) {
	t.Parallel()
	if b, err := ReadBody(strings.NewReader("12345"), 5); err != nil || string(b) != "12345" {
		t.Errorf("at the limit: %q %v", b, err)
	}
	if _, err := ReadBody(strings.NewReader("123456"), 5); !errors.Is(err, ErrTooLarge) {
		t.Errorf("past the limit: %v", err)
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	if got := Quote("bad token s.abc\nnext", []string{"s.abc"}); got != "bad token [redacted] next" {
		t.Errorf("Quote = %q", got)
	}
	long := strings.Repeat("é", MaxQuote)
	got := Quote(long, nil)
	if len(got) > MaxQuote+3 || !strings.HasSuffix(got, "...") || !strings.HasPrefix(got, "é") {
		t.Errorf("long: %d bytes", len(got))
	}
	if err := CheckToken("the Vault token", "s.abc\n"); err == nil || strings.Contains(err.Error(), "s.abc") {
		t.Errorf("CheckToken: %v", err)
	}
	if err := CheckToken("the Vault token", "s.abc"); err != nil {
		t.Error(err)
	}
}

func TestSetting(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HUSH_INFISICAL_TIMEOUT": "5s"}
	get := func(k string) string { return env[k] }
	if v, from := Setting(get, "HUSH_INFISICAL_REQUEST_TIMEOUT", "HUSH_INFISICAL_TIMEOUT"); v != "5s" || from != "HUSH_INFISICAL_TIMEOUT" {
		t.Errorf("alias: %q from %s", v, from)
	}
	env["HUSH_INFISICAL_REQUEST_TIMEOUT"] = "7s"
	if v, from := Setting(get, "HUSH_INFISICAL_REQUEST_TIMEOUT", "HUSH_INFISICAL_TIMEOUT"); v != "7s" || from != "HUSH_INFISICAL_REQUEST_TIMEOUT" {
		t.Errorf("name wins: %q from %s", v, from)
	}
}

func TestGate(t *testing.T) {
	t.Parallel()
	g := NewGate()
	if err := g.Enter(context.Background(), "the login"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Enter(ctx, "the login"); err == nil || !strings.Contains(err.Error(), "waiting for the login") {
		t.Errorf("held gate: %v", err)
	}
	g.Leave()
	if err := g.Enter(context.Background(), "the login"); err != nil {
		t.Error(err)
	}
}
