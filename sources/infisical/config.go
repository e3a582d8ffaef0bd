package infisical

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hushinit/hush/sources/internal/remote"
)

// Environment variables, named as the Infisical CLI names them. hush reads
// them from its own environment; the ones it used to log in are removed from
// the child's.
const (
	envDomain      = "INFISICAL_DOMAIN"  // CLI: takes precedence
	envAPIURL      = "INFISICAL_API_URL" // CLI: legacy
	envValsURL     = "INFISICAL_URL"     // vals
	envAuthMethod  = "INFISICAL_AUTH_METHOD"
	envToken       = "INFISICAL_TOKEN"
	envUAToken     = "INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN" // the CLI checks it before INFISICAL_TOKEN
	envClientID    = "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID"
	envSecret      = "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET"
	envK8sID       = "INFISICAL_KUBERNETES_IDENTITY_ID" // SDK, vals
	envMachineID   = "INFISICAL_MACHINE_IDENTITY_ID"    // CLI
	envK8sTokenPth = "INFISICAL_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH"
	envOrgSlug     = "INFISICAL_AUTH_ORGANIZATION_SLUG"

	// hush's own settings (removed from the child's environment with every
	// HUSH_* variable).
	envCACert       = "HUSH_INFISICAL_CA_CERT" // PEM file added to the system roots
	envPollInterval = "HUSH_INFISICAL_POLL_INTERVAL"
	// envTimeout is named like Vault's HUSH_VAULT_REQUEST_TIMEOUT (the
	// toolkit's HUSH_<BACKEND>_<NAME> pattern); envTimeoutOld, its first
	// name, still works.
	envTimeout    = "HUSH_INFISICAL_REQUEST_TIMEOUT"
	envTimeoutOld = "HUSH_INFISICAL_TIMEOUT"
)

const (
	defaultSite          = "https://app.infisical.com"
	defaultK8sTokenPath  = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	defaultTimeout       = 10 * time.Second
	maxCACertFile        = 1 << 20
	fileSuffix           = "_FILE"
	methodToken          = "token"
	methodUniversal      = "universal-auth"
	methodKubernetes     = "kubernetes"
	supportedAuthMethods = "universal-auth, kubernetes, token"
)

// settings is everything the environment says about reaching Infisical. It
// is parsed on first use, never at construction.
type settings struct {
	base    string // site URL + "/api", as the SDK builds it
	roots   *x509.CertPool
	timeout time.Duration
	auth    authConfig
}

func loadSettings(getenv func(string) string) (*settings, error) {
	s := &settings{timeout: defaultTimeout}
	base, err := siteURL(getenv)
	if err != nil {
		return nil, err
	}
	s.base = base
	if name := strings.TrimSpace(getenv(envCACert)); name != "" {
		pem, err := remote.ReadLimited(name, maxCACertFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envCACert, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", envCACert, name)
		}
		s.roots = pool
	}
	if v, from := remote.Setting(getenv, envTimeout, envTimeoutOld); strings.TrimSpace(v) != "" {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s=%q: want a positive duration such as 10s", from, v)
		}
		s.timeout = d
	}
	if s.auth, err = chooseAuth(getenv); err != nil {
		return nil, err
	}
	return s, nil
}

// siteURL returns the API base: INFISICAL_DOMAIN, else INFISICAL_API_URL,
// else vals' INFISICAL_URL, else Infisical Cloud (US), with "/api" appended
// unless it is there already — the SDK's and the CLI's rule, so that both
// https://eu.infisical.com and https://eu.infisical.com/api work.
func siteURL(getenv func(string) string) (string, error) {
	raw, from := defaultSite, ""
	for _, name := range []string{envDomain, envAPIURL, envValsURL} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			raw, from = v, name
			break
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("%s=%q: want an http(s) URL such as %s", from, raw, defaultSite)
	}
	if u.User != nil {
		return "", fmt.Errorf("%s: credentials in the URL are not supported", from)
	}
	base := strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/")
	if !strings.HasSuffix(base, "/api") {
		base += "/api"
	}
	return base, nil
}

// authConfig says how to log in. Credentials themselves are read at every
// login (files may be rotated), never kept beyond it except the access
// token.
type authConfig struct {
	method string
	// getenv is hush's environment; the fields below are variable names.
	getenv func(string) string
	token  credVar // method token
	id     credVar // universal-auth client ID, or kubernetes identity ID
	secret credVar // universal-auth client secret
	jwt    string  // kubernetes: the service account token file
	jwtVar string  // the variable that named it, "" for the default path
	org    string  // organization slug, optional
}

// credVar is a credential given either as NAME=value or as NAME_FILE=path.
type credVar struct {
	name   string // the variable actually set: NAME or NAME_FILE
	isFile bool
}

// lookupCred finds NAME or NAME_FILE (both set is an error, the official
// Docker images' rule).
func lookupCred(getenv func(string) string, name string) (credVar, bool, error) {
	direct, file := getenv(name), getenv(name+fileSuffix)
	switch {
	case direct != "" && file != "":
		return credVar{}, false, fmt.Errorf("both %s and %s%s are set", name, name, fileSuffix)
	case direct != "":
		return credVar{name: name}, true, nil
	case file != "":
		return credVar{name: name + fileSuffix, isFile: true}, true, nil
	}
	return credVar{}, false, nil
}

// value reads the credential now: from the environment, or from its file
// with surrounding whitespace trimmed. Errors name the variable and the
// file, never content.
func (c credVar) value(getenv func(string) string) (string, error) {
	v := getenv(c.name)
	if !c.isFile {
		return strings.TrimSpace(v), nil
	}
	b, err := remote.ReadLimited(v, remote.MaxCredentialFile)
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.name, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", c.name, v)
	}
	return s, nil
}

// chooseAuth picks the login method: INFISICAL_AUTH_METHOD when set (the
// CLI's values, or vals'/the SDK's UNIVERSAL_AUTH and KUBERNETES), otherwise
// the first that is configured of: an access token
// (INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN, then INFISICAL_TOKEN, as the CLI
// checks them), universal auth (client ID), Kubernetes auth (identity ID).
func chooseAuth(getenv func(string) string) (authConfig, error) {
	a := authConfig{getenv: getenv, org: strings.TrimSpace(getenv(envOrgSlug))}
	method := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(getenv(envAuthMethod))), "_", "-")
	switch method {
	case "":
	case methodUniversal, methodKubernetes:
	case methodToken, "access-token":
		method = methodToken
	default:
		return a, fmt.Errorf("%s=%q: hush supports %s", envAuthMethod, getenv(envAuthMethod), supportedAuthMethods)
	}

	token, haveToken, err := firstCred(getenv, envUAToken, envToken)
	if err != nil {
		return a, err
	}
	clientID, haveID, err := lookupCred(getenv, envClientID)
	if err != nil {
		return a, err
	}
	k8sID, haveK8s, err := firstCred(getenv, envK8sID, envMachineID)
	if err != nil {
		return a, err
	}
	if method == "" {
		switch {
		case haveToken:
			method = methodToken
		case haveID:
			method = methodUniversal
		case haveK8s:
			method = methodKubernetes
		default:
			return a, fmt.Errorf("no Infisical credentials: set %s and %s (universal auth), %s (an access token), "+
				"or %s (Kubernetes auth)", envClientID, envSecret, envToken, envK8sID)
		}
	}
	a.method = method
	switch method {
	case methodToken:
		if !haveToken {
			return a, fmt.Errorf("%s=token but neither %s nor %s is set", envAuthMethod, envUAToken, envToken)
		}
		a.token = token
	case methodUniversal:
		if !haveID {
			return a, fmt.Errorf("universal auth needs %s (or %s%s)", envClientID, envClientID, fileSuffix)
		}
		secret, ok, err := lookupCred(getenv, envSecret)
		if err != nil {
			return a, err
		}
		if !ok {
			return a, fmt.Errorf("universal auth needs %s (or %s%s)", envSecret, envSecret, fileSuffix)
		}
		a.id, a.secret = clientID, secret
	case methodKubernetes:
		if !haveK8s {
			return a, fmt.Errorf("Kubernetes auth needs %s (or %s)", envK8sID, envMachineID)
		}
		a.id = k8sID
		a.jwt = defaultK8sTokenPath
		if p := strings.TrimSpace(getenv(envK8sTokenPth)); p != "" {
			a.jwt, a.jwtVar = p, envK8sTokenPth
		}
	}
	return a, nil
}

// firstCred returns the first of names (or its _FILE form) that is set.
func firstCred(getenv func(string) string, names ...string) (credVar, bool, error) {
	for _, n := range names {
		c, ok, err := lookupCred(getenv, n)
		if err != nil || ok {
			return c, ok, err
		}
	}
	return credVar{}, false, nil
}

// usedVars names the variables this configuration logs in with.
func (a authConfig) usedVars() []string {
	var out []string
	switch a.method {
	case methodToken:
		// Both access token variables are Infisical's credentials: the
		// one hush did not pick is a second copy (or an older token) of
		// the identity hush used, never the application's business.
		for _, n := range []string{envUAToken, envToken} {
			for _, name := range []string{n, n + fileSuffix} {
				if a.getenv(name) != "" {
					out = append(out, name)
				}
			}
		}
	case methodUniversal:
		out = append(out, a.id.name, a.secret.name)
	case methodKubernetes:
		out = append(out, a.id.name)
		if a.jwtVar != "" {
			out = append(out, a.jwtVar)
		}
	}
	return out
}

// renewable reports whether the method can log in again by itself (a plain
// access token cannot).
func (a authConfig) renewable() bool { return a.method != methodToken }

// pollInterval is HUSH_INFISICAL_POLL_INTERVAL when set, else def (hush's
// --poll-interval).
func pollInterval(getenv func(string) string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(envPollInterval))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return def, fmt.Errorf("%s=%q: want a positive duration such as 30s", envPollInterval, v)
	}
	return d, nil
}
