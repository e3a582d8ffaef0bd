package vault

import (
	"fmt"
	"strings"
	"time"

	"github.com/hushinit/hush/sources"
)

// Environment variables of hush's own (the VAULT_* ones are vault/api's,
// read by api.DefaultConfig and api.NewClient).
const (
	EnvToken          = "VAULT_TOKEN"
	EnvTokenFile      = "HUSH_VAULT_TOKEN_FILE"
	EnvRoleID         = "HUSH_VAULT_ROLE_ID"
	EnvSecretIDFile   = "HUSH_VAULT_SECRET_ID_FILE"
	EnvSecretIDWrap   = "HUSH_VAULT_SECRET_ID_WRAPPED"
	EnvAppRoleMount   = "HUSH_VAULT_APPROLE_MOUNT"
	EnvK8sRole        = "HUSH_VAULT_K8S_ROLE"
	EnvK8sTokenPath   = "HUSH_VAULT_K8S_TOKEN_PATH"
	EnvK8sMount       = "HUSH_VAULT_K8S_MOUNT"
	EnvPollInterval   = "HUSH_VAULT_POLL_INTERVAL"
	EnvRequestTimeout = "HUSH_VAULT_REQUEST_TIMEOUT"
	// EnvKVMounts declares KV mounts and their version
	// ("secret=2,legacy=1"), so that hush reads under them without asking
	// Vault first (sys/internal/ui/mounts).
	EnvKVMounts = "HUSH_VAULT_KV_MOUNTS"
)

// vals' names for the same settings, read when hush's own are not set, so
// that an environment written for helmfile/vals works unchanged. Like
// hush's, the ones used are removed from the child's environment.
const (
	EnvValsAuthMethod = "VAULT_AUTH_METHOD" // token, approle, kubernetes
	EnvValsRoleID     = "VAULT_ROLE_ID"     // AppRole role id, or the Kubernetes role
	EnvValsSecretID   = "VAULT_SECRET_ID"   // the AppRole secret id itself
	EnvValsLoginMount = "VAULT_LOGIN_MOUNT_POINT"
	EnvValsK8sMount   = "VAULT_KUBERNETES_MOUNT_POINT"
	EnvValsK8sToken   = "VAULT_KUBERNETES_JWT_TOKEN_PATH"
)

// Defaults.
const (
	defaultK8sTokenPath   = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	defaultRequestTimeout = 10 * time.Second
	// defaultCallTimeout bounds one background call (a poll, a login
	// after the token's max TTL) with its retries.
	defaultCallTimeout = 30 * time.Second
	maxRetriesCap      = 10
	// maxCredentialFile bounds the credential files hush reads (tokens,
	// secret ids, service account tokens are well under this).
	maxCredentialFile = 64 << 10
)

// settings is the backend's configuration, read from hush's environment
// without touching the network.
type settings struct {
	method            authMethod
	pollInterval      time.Duration // 0: use --poll-interval
	requestTimeout    time.Duration
	requestTimeoutSet bool
	approleMount      string
	k8sMount          string
	k8sTokenPath      string
	roleID            string
	secretIDFile      string
	secretIDWrap      bool
	k8sRole           string
	tokenFile         string
	kvMounts          map[string]mountKind // "secret/" -> kindKV2
	secretIDEnv       bool                 // the secret id is VAULT_SECRET_ID's value, not a file
	valsVars          []string             // vals' variables this configuration uses
}

// authMethod is how hush obtains its Vault token, in order of precedence.
type authMethod int

const (
	authNone      authMethod = iota // no credentials: a Vault Agent or Proxy adds the token
	authToken                       // VAULT_TOKEN
	authTokenFile                   // HUSH_VAULT_TOKEN_FILE (e.g. a Vault Agent sink)
	authAppRole                     // HUSH_VAULT_ROLE_ID + HUSH_VAULT_SECRET_ID_FILE
	authK8s                         // HUSH_VAULT_K8S_ROLE + the service account token
)

func (m authMethod) String() string {
	switch m {
	case authToken:
		return "token (VAULT_TOKEN)"
	case authTokenFile:
		return "token file"
	case authAppRole:
		return "approle"
	case authK8s:
		return "kubernetes"
	}
	return "none"
}

// canLogin reports whether the method can obtain a new token by itself.
func (m authMethod) canLogin() bool {
	return m == authTokenFile || m == authAppRole || m == authK8s
}

// ownsToken reports whether hush created the token (and so may revoke it).
func (m authMethod) ownsToken() bool { return m == authAppRole || m == authK8s }

// EnvHeaders is vault/api's VAULT_HEADERS: extra headers for every
// request, which can carry a gateway's or a proxy's authentication.
const EnvHeaders = "VAULT_HEADERS"

// credentialVars names the variables a method uses to log in, for
// scrubbing from the child's environment, and VAULT_HEADERS, sent with
// every request whatever the method.
func (s settings) credentialVars() []string {
	out := []string{EnvHeaders}
	switch s.method {
	case authToken:
		out = append(out, EnvToken)
	case authTokenFile:
		out = append(out, EnvTokenFile)
	case authAppRole:
		out = append(out, EnvRoleID, EnvSecretIDFile, EnvSecretIDWrap)
	case authK8s:
		out = append(out, EnvK8sRole, EnvK8sTokenPath)
	}
	return append(out, s.valsVars...)
}

// readSettings reads hush's Vault variables. It reports a configuration
// mistake (half an AppRole, a bad duration) as an error, so that hush fails
// before reading anything.
func readSettings(getenv func(string) string) (settings, error) {
	s := settings{
		requestTimeout: defaultRequestTimeout,
		approleMount:   or(getenv(EnvAppRoleMount), "approle"),
		k8sMount:       or(getenv(EnvK8sMount), "kubernetes"),
		k8sTokenPath:   or(getenv(EnvK8sTokenPath), defaultK8sTokenPath),
		roleID:         strings.TrimSpace(getenv(EnvRoleID)),
		secretIDFile:   getenv(EnvSecretIDFile),
		k8sRole:        getenv(EnvK8sRole),
		tokenFile:      getenv(EnvTokenFile),
	}
	var err error
	if s.pollInterval, err = duration(getenv, EnvPollInterval); err != nil {
		return s, err
	}
	if d, err := duration(getenv, EnvRequestTimeout); err != nil {
		return s, err
	} else if d > 0 {
		s.requestTimeout, s.requestTimeoutSet = d, true
	}
	if s.kvMounts, err = parseKVMounts(getenv(EnvKVMounts)); err != nil {
		return s, err
	}
	if v := getenv(EnvSecretIDWrap); v != "" {
		if s.secretIDWrap, err = sources.ParseBool(v); err != nil {
			return s, fmt.Errorf("%s: %w", EnvSecretIDWrap, err)
		}
	}
	if m := strings.ToLower(strings.TrimSpace(getenv(EnvValsAuthMethod))); m != "" && !s.hushAuthSet(getenv) {
		return s, s.valsAuth(getenv, m)
	}
	switch {
	case getenv(EnvToken) != "":
		s.method = authToken
	case s.tokenFile != "":
		s.method = authTokenFile
	case s.roleID != "" || s.secretIDFile != "":
		if s.roleID == "" || s.secretIDFile == "" {
			return s, fmt.Errorf("AppRole needs both %s and %s", EnvRoleID, EnvSecretIDFile)
		}
		s.method = authAppRole
	case s.k8sRole != "":
		s.method = authK8s
	}
	return s, nil
}

// hushAuthSet reports whether hush's own auth variables say how to log
// in: they win over vals' names.
func (s *settings) hushAuthSet(getenv func(string) string) bool {
	return s.tokenFile != "" || s.roleID != "" || s.secretIDFile != "" || s.k8sRole != ""
}

// valsAuth configures the login from vals' variables.
func (s *settings) valsAuth(getenv func(string) string, method string) error {
	use := func(names ...string) {
		for _, n := range names {
			if getenv(n) != "" {
				s.valsVars = append(s.valsVars, n)
			}
		}
	}
	use(EnvValsAuthMethod)
	switch method {
	case "token":
		if getenv(EnvToken) != "" {
			s.method = authToken
		}
	case "approle":
		s.roleID = strings.TrimSpace(getenv(EnvValsRoleID))
		if s.roleID == "" || getenv(EnvValsSecretID) == "" {
			return fmt.Errorf("%s=approle needs %s and %s (or %s and %s)", EnvValsAuthMethod, EnvValsRoleID, EnvValsSecretID, EnvRoleID, EnvSecretIDFile)
		}
		s.method, s.secretIDEnv = authAppRole, true
		if v := getenv(EnvValsLoginMount); v != "" && getenv(EnvAppRoleMount) == "" {
			s.approleMount = v
		}
		use(EnvValsRoleID, EnvValsSecretID)
	case "kubernetes":
		s.k8sRole = strings.TrimSpace(getenv(EnvValsRoleID))
		if s.k8sRole == "" {
			return fmt.Errorf("%s=kubernetes needs the Kubernetes role in %s (or %s)", EnvValsAuthMethod, EnvValsRoleID, EnvK8sRole)
		}
		s.method = authK8s
		if v := getenv(EnvValsK8sMount); v != "" && getenv(EnvK8sMount) == "" {
			s.k8sMount = v
		}
		if v := getenv(EnvValsK8sToken); v != "" && getenv(EnvK8sTokenPath) == "" {
			s.k8sTokenPath = v
		}
		use(EnvValsRoleID, EnvValsK8sToken)
	default:
		return fmt.Errorf("%s=%q: hush logs in with token, approle or kubernetes", EnvValsAuthMethod, method)
	}
	return nil
}

// parseKVMounts reads HUSH_VAULT_KV_MOUNTS: MOUNT=VERSION pairs, comma
// separated, VERSION 1 or 2.
func parseKVMounts(v string) (map[string]mountKind, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	out := map[string]mountKind{}
	for _, item := range strings.Split(v, ",") {
		mount, version, ok := strings.Cut(strings.TrimSpace(item), "=")
		mount = strings.Trim(strings.TrimSpace(mount), "/")
		if !ok || mount == "" || strings.Contains(mount, "//") {
			return nil, fmt.Errorf("%s: %q is not MOUNT=VERSION (for example secret=2)", EnvKVMounts, item)
		}
		switch strings.TrimSpace(version) {
		case "1":
			out[mount+"/"] = kindKV1
		case "2":
			out[mount+"/"] = kindKV2
		default:
			return nil, fmt.Errorf("%s: %s: the KV version is 1 or 2", EnvKVMounts, mount)
		}
	}
	return out, nil
}

func duration(getenv func(string) string, name string) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a duration such as 10s or 1m30s", name, v)
	}
	return d, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
