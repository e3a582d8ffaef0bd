package infisical

import (
	"github.com/hushinit/hush/sources/internal/remote"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSiteURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		getenv func(string) string
		want   string
	}{
		{env(), "https://app.infisical.com/api"},
		{env(envDomain, "https://eu.infisical.com"), "https://eu.infisical.com/api"},
		{env(envDomain, "https://eu.infisical.com/"), "https://eu.infisical.com/api"},
		{env(envDomain, "https://eu.infisical.com/api"), "https://eu.infisical.com/api"},
		{env(envDomain, "http://infisical.internal:8080/sub/"), "http://infisical.internal:8080/sub/api"},
		// INFISICAL_DOMAIN wins over the legacy INFISICAL_API_URL, which
		// wins over vals' INFISICAL_URL; blank counts as unset.
		{env(envDomain, "https://a.example", envAPIURL, "https://b.example"), "https://a.example/api"},
		{env(envDomain, "  ", envAPIURL, "https://b.example/api"), "https://b.example/api"},
		{env(envValsURL, "https://c.example"), "https://c.example/api"},
	}
	for _, c := range cases {
		got, err := siteURL(c.getenv)
		if err != nil || got != c.want {
			t.Errorf("siteURL = %q, %v; want %q", got, err, c.want)
		}
	}
	for _, bad := range []string{"app.infisical.com", "ftp://x", "https://user:pw@x.example"} {
		if _, err := siteURL(env(envDomain, bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestChooseAuth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		getenv func(string) string
		method string
		used   []string
	}{
		{"token", env(envToken, "t"), methodToken, []string{envToken}},
		// Both token variables are scrubbed: the unused one is Infisical's
		// credential too (issue 10, item 5).
		{"ua token first", env(envToken, "t", envUAToken, "u"), methodToken, []string{envUAToken, envToken}},
		{"ua token file and token", env(envToken, "t", envUAToken+"_FILE", "/u"), methodToken, []string{envUAToken + "_FILE", envToken}},
		{"token file", env(envToken+"_FILE", "/x"), methodToken, []string{envToken + "_FILE"}},
		{"universal", env(envClientID, "id", envSecret, "s"), methodUniversal, []string{envClientID, envSecret}},
		{"universal files", env(envClientID+"_FILE", "/a", envSecret+"_FILE", "/b"), methodUniversal,
			[]string{envClientID + "_FILE", envSecret + "_FILE"}},
		{"kubernetes", env(envK8sID, "i"), methodKubernetes, []string{envK8sID}},
		{"kubernetes CLI names", env(envMachineID, "i", envK8sTokenPth, "/t"), methodKubernetes, []string{envMachineID, envK8sTokenPth}},
		// An explicit method wins over what is merely present.
		{"explicit universal", env(envAuthMethod, "universal-auth", envToken, "t", envClientID, "id", envSecret, "s"),
			methodUniversal, []string{envClientID, envSecret}},
		{"vals spelling", env(envAuthMethod, "KUBERNETES", envK8sID, "i", envToken, "t"), methodKubernetes, []string{envK8sID}},
	}
	for _, c := range cases {
		a, err := chooseAuth(c.getenv)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if a.method != c.method || !slices.Equal(a.usedVars(), c.used) {
			t.Errorf("%s: method %s, used %v; want %s, %v", c.name, a.method, a.usedVars(), c.method, c.used)
		}
	}
	if a, _ := chooseAuth(env(envK8sID, "i")); a.jwt != defaultK8sTokenPath {
		t.Errorf("default token path %q", a.jwt)
	}

	errCases := []struct {
		getenv func(string) string
		want   string
	}{
		{env(), "no Infisical credentials"},
		{env(envClientID, "id"), "universal auth needs " + envSecret},
		{env(envToken, "t", envToken+"_FILE", "/x"), "both INFISICAL_TOKEN and INFISICAL_TOKEN_FILE"},
		{env(envAuthMethod, "aws-iam", envToken, "t"), "hush supports universal-auth, kubernetes, token"},
		{env(envAuthMethod, "kubernetes", envToken, "t"), "Kubernetes auth needs"},
		{env(envAuthMethod, "token", envClientID, "i"), "neither"},
	}
	for _, c := range errCases {
		if _, err := chooseAuth(c.getenv); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

func TestCredentialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := env(envSecret+"_FILE", secretFile, envSecret+"X", "")
	c, ok, err := lookupCred(getenv, envSecret)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	v, err := c.value(getenv)
	if err != nil || v != "s3cr3t" {
		t.Fatalf("value %q, %v", v, err)
	}
	// Errors name the variable and the file, never the content.
	if err := os.WriteFile(secretFile, []byte("   \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.value(getenv); err == nil || !strings.Contains(err.Error(), envSecret+"_FILE") {
		t.Errorf("empty file: %v", err)
	}
	missing := env(envSecret+"_FILE", filepath.Join(dir, "nope"))
	if _, err := c.value(missing); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing file: %v", err)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	s, err := loadSettings(env(envToken, "t"))
	if err != nil {
		t.Fatal(err)
	}
	if s.timeout != defaultTimeout || s.roots != nil || s.base != "https://app.infisical.com/api" {
		t.Errorf("defaults: %+v", s)
	}
	if s, err := loadSettings(env(envToken, "t", envTimeoutOld, "3s")); err != nil || s.timeout != 3*time.Second {
		t.Errorf("the old name of the timeout setting: %v", err)
	}
	if _, err := loadSettings(env(envToken, "t", envTimeout, "0s")); err == nil {
		t.Error("zero timeout accepted")
	}
	if _, err := loadSettings(env(envToken, "t", envCACert, "/nonexistent.pem")); err == nil ||
		!strings.Contains(err.Error(), envCACert) {
		t.Errorf("missing CA file: %v", err)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSettings(env(envToken, "t", envCACert, notPEM)); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Errorf("not PEM: %v", err)
	}
	d, err := pollInterval(env(envPollInterval, "5s"), time.Minute)
	if err != nil || d != 5*time.Second {
		t.Errorf("poll override: %v %v", d, err)
	}
	if d, _ := pollInterval(env(), time.Minute); d != time.Minute {
		t.Errorf("poll default: %v", d)
	}
}

func TestTokenLifetime(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tok := &token{obtained: now, ttl: 90 * time.Second, fromLogin: true, maxUntil: now.Add(100 * time.Second)}
	if tok.needsRefresh(now.Add(59 * time.Second)) {
		t.Error("refresh before two thirds")
	}
	if !tok.needsRefresh(now.Add(60 * time.Second)) {
		t.Error("no refresh at two thirds")
	}
	// Renewing at 60s would run to 150s, past the 100s maximum: log in.
	if tok.canRenew(now.Add(60 * time.Second)) {
		t.Error("renewal past the maximum lifetime")
	}
	if !tok.canRenew(now.Add(5 * time.Second)) {
		t.Error("no renewal within the maximum lifetime")
	}
	if !tok.expired(now.Add(90 * time.Second)) {
		t.Error("not expired")
	}
	// Why a login replaces a renewal, as logged.
	if why := tok.whyNoRenewal(now.Add(60 * time.Second)); !strings.Contains(why, "maximum lifetime") {
		t.Errorf("past the max TTL: %q", why)
	}
	if why := tok.whyNoRenewal(now.Add(95 * time.Second)); !strings.Contains(why, "expired 5s ago without being renewed") {
		t.Errorf("expired: %q", why)
	}
	static := &token{obtained: now}
	if static.needsRefresh(now.Add(1000*time.Hour)) || static.canRenew(now) {
		t.Error("a plain token is never refreshed")
	}
}

// Failed polls back off with the toolkit's rule (remote.NextPoll), with
// jitter from the poller's random source.
func TestPollBackoff(t *testing.T) {
	t.Parallel()
	mid := func() float64 { return 0.5 }
	p := &poller{interval: time.Second, rand: mid}
	if p.delay(0) != time.Second || p.delay(1) != 2*time.Second || p.delay(50) != 10*time.Second {
		t.Errorf("poll backoff: %v %v %v", p.delay(0), p.delay(1), p.delay(50))
	}
	p = &poller{interval: time.Minute, rand: mid}
	if p.delay(50) != remote.MaxPollBackoff {
		t.Errorf("poll backoff cap: %v", p.delay(50))
	}
	// A successful poll keeps the phase; only a back-off is jittered.
	p = &poller{interval: time.Minute, rand: func() float64 { return 0 }}
	if p.delay(0) != time.Minute || p.delay(1) != 108*time.Second {
		t.Errorf("poll jitter: %v %v", p.delay(0), p.delay(1))
	}
}
