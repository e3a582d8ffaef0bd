package vault

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"sort"
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
	"address":      "VAULT_ADDR",
	"proto":        "VAULT_ADDR (http:// or https://)",
	"namespace":    "VAULT_NAMESPACE",
	"token_env":    "VAULT_TOKEN",
	"token_file":   "HUSH_VAULT_TOKEN_FILE",
	"auth_method":  "the HUSH_VAULT_* auth variables",
	"role_id":      "HUSH_VAULT_ROLE_ID",
	"secret_id":    "HUSH_VAULT_SECRET_ID_FILE",
	"username":     "a supported auth method",
	"password_env": "a supported auth method",
}

// validQuery accepts an optional positive ?version=N and nothing else.
func validQuery(query url.Values) error {
	var unknown []string
	for k, vs := range query {
		if k == paramVersion {
			if len(vs) != 1 {
				return fmt.Errorf("%q given %d times", paramVersion, len(vs))
			}
			if _, err := parseVersion(vs[0]); err != nil {
				return err
			}
			continue
		}
		if env, ok := valsParams[k]; ok {
			return fmt.Errorf("query parameter %q is not supported in hush references: set %s in hush's environment", k, env)
		}
		unknown = append(unknown, fmt.Sprintf("%q", k))
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
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
