package vault

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// paramVersion selects a KV v2 version (vals: ?version=N).
const paramVersion = "version"

// valsParams are the query parameters vals puts in a Vault reference to
// carry connection settings and credentials. hush takes those from its
// environment instead, so that a reference never holds a credential and
// every reference in a container talks to the same Vault; each gets a
// pointer to the variable to use.
var valsParams = map[string]string{
	"address":       "VAULT_ADDR",
	"host":          "VAULT_ADDR (https://HOST:PORT)",
	"proto":         "VAULT_ADDR (http:// or https://)",
	"namespace":     "VAULT_NAMESPACE",
	"token_env":     "VAULT_TOKEN",
	"token_file":    "HUSH_VAULT_TOKEN_FILE",
	"auth_method":   "VAULT_AUTH_METHOD (token, approle or kubernetes)",
	"role_id":       "VAULT_ROLE_ID (or HUSH_VAULT_ROLE_ID)",
	"secret_id":     "VAULT_SECRET_ID (or HUSH_VAULT_SECRET_ID_FILE for a file)",
	"username":      "VAULT_AUTH_METHOD=approle or kubernetes (hush has no userpass login)",
	"password_env":  "VAULT_AUTH_METHOD=approle or kubernetes (hush has no userpass login)",
	"password_file": "VAULT_AUTH_METHOD=approle or kubernetes (hush has no userpass login)",
}

// valsParamVar is the variable to set instead of a refused parameter: with
// auth_method=kubernetes, vals' role_id is the Kubernetes role.
func valsParamVar(query url.Values, k string) (string, bool) {
	if k == "role_id" && query.Get("auth_method") == "kubernetes" {
		return "VAULT_ROLE_ID with VAULT_AUTH_METHOD=kubernetes (or HUSH_VAULT_K8S_ROLE)", true
	}
	env, ok := valsParams[k]
	return env, ok
}

// validQuery accepts an optional positive ?version=N and nothing else.
func validQuery(query url.Values) error {
	var unknown, refused []string
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same message for the same reference, every run
	for _, k := range keys {
		vs := query[k]
		if k == paramVersion {
			if len(vs) != 1 {
				return fmt.Errorf("%q given %d times", paramVersion, len(vs))
			}
			if _, err := parseVersion(vs[0]); err != nil {
				return err
			}
			continue
		}
		if env, ok := valsParamVar(query, k); ok {
			refused = append(refused, fmt.Sprintf("query parameter %q is not supported in hush references: set %s in hush's environment", k, env))
			continue
		}
		unknown = append(unknown, fmt.Sprintf("%q", k))
	}
	if len(refused) > 0 {
		return errors.New(strings.Join(refused, "; "))
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown query parameter %s (the vault backend takes only version, optional and as)", strings.Join(unknown, ", "))
	}
	return nil
}

// parseVersion parses a KV v2 version number: a positive decimal integer.
func parseVersion(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("version %q is not a positive integer", s)
	}
	return n, nil
}

// versionOf returns the ?version= of a validated query, 0 when absent.
func versionOf(query url.Values) int {
	v := query.Get(paramVersion)
	if v == "" {
		return 0
	}
	n, _ := parseVersion(v)
	return n
}

// cleanPath checks a reference path: MOUNT/PATH, relative, without empty,
// "." or ".." segments (Vault would normalise them into another path than
// the one written).
func cleanPath(p string) (string, error) {
	if strings.HasPrefix(p, "/") {
		return "", errors.New("a Vault path is written without a leading slash: ref+vault://MOUNT/PATH")
	}
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "", errors.New("empty Vault path")
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".", "..":
			return "", fmt.Errorf("Vault path %q has an empty, \".\" or \"..\" segment", p)
		}
	}
	return p, nil
}

// mountOf returns the longest mount in mounts (each ending in "/") that p
// lies under, or "" when none does.
func mountOf(p string, mounts []string) string {
	best := ""
	for _, m := range mounts {
		if strings.HasPrefix(p+"/", m) && len(m) > len(best) {
			best = m
		}
	}
	return best
}

// kvPath is the API path of a KV v2 secret: the logical path with "data"
// or "metadata" inserted after the mount, as `vault kv get` does.
func kvPath(mount, logical, prefix string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(logical+"/", mount), "/")
	return strings.TrimSuffix(path.Join(mount, prefix, rel), "/")
}
