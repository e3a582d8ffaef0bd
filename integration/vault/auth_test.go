package vault

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// authFixture is a secret readable by a policy of its own.
type authFixture struct {
	path, policy, value string
}

func newAuthFixture(t *testing.T) authFixture {
	t.Helper()
	id := randomHex(4)
	f := authFixture{path: "secret/auth-" + id + "/app", policy: "read-" + id, value: "authval-" + randomHex(8)}
	shared.kvPut(t, f.path, map[string]any{"v": f.value})
	shared.policy(t, f.policy, fmt.Sprintf(`
path "secret/data/auth-%[1]s/*" { capabilities = ["read"] }
path "secret/metadata/auth-%[1]s/*" { capabilities = ["read"] }
`, id))
	return f
}

func (f authFixture) ref() string { return "S=ref+vault://" + f.path + "#/v" }

// expectNewVersion writes a new value of f's secret and checks that the
// watch brings it to the running child, whose second line is S=value then
// rest, and that hush prints no value.
func (r *hushRun) expectNewVersion(f authFixture, out, rest string) {
	r.t.Helper()
	next := "next-" + randomHex(8)
	shared.kvPut(r.t, f.path, map[string]any{"v": next})
	if got := r.waitLines(out, 2); got[1] != "S="+next+rest {
		r.t.Errorf("child saw %q", got[1])
	}
	r.checkNoLeak([]string{next})
}

var approleOnce sync.Once

// approleRole creates an AppRole role with the fixture's policy and returns
// its role id.
func approleRole(t *testing.T, f authFixture, ttl, maxTTL string) (name, roleID string) {
	t.Helper()
	approleOnce.Do(func() { shared.must(t, "POST", "sys/auth/approle", map[string]any{"type": "approle"}) })
	name = "role-" + randomHex(4)
	shared.must(t, "POST", "auth/approle/role/"+name, map[string]any{
		"token_policies": []string{f.policy}, "token_ttl": ttl, "token_max_ttl": maxTTL,
	})
	out := shared.must(t, "GET", "auth/approle/role/"+name+"/role-id", nil)
	return name, out["data"].(map[string]any)["role_id"].(string)
}

// secretID issues a secret id for role, response-wrapped when wrapped is
// set (then the value returned is the wrapping token).
func secretID(t *testing.T, role string, wrapped bool) string {
	t.Helper()
	if !wrapped {
		out := shared.must(t, "POST", "auth/approle/role/"+role+"/secret-id", nil)
		return out["data"].(map[string]any)["secret_id"].(string)
	}
	out := shared.must(t, "POST", "auth/approle/role/"+role+"/secret-id", nil, "X-Vault-Wrap-TTL", "120s")
	return out["wrap_info"].(map[string]any)["token"].(string)
}

// appRole is an AppRole role with a fixture's policy and a secret id for
// it: the wrapping token of one when wrapped.
type appRole struct {
	roleID, secretID string
	wrapped          bool
}

func newAppRole(t *testing.T, f authFixture, ttl, maxTTL string, wrapped bool) appRole {
	t.Helper()
	name, roleID := approleRole(t, f, ttl, maxTTL)
	return appRole{roleID: roleID, secretID: secretID(t, name, wrapped), wrapped: wrapped}
}

// env is hush's environment to read f's secret after logging in with a:
// the secret id in a file, newline-terminated as a shell leaves it; extra
// is added.
func (a appRole) env(t *testing.T, f authFixture, extra ...string) []string {
	return append(append(baseEnv(), "VAULT_ADDR="+shared.addr, f.ref(),
		"HUSH_VAULT_ROLE_ID="+a.roleID,
		"HUSH_VAULT_SECRET_ID_FILE="+writeFile(t, "secret-id", a.secretID+"\n"),
		fmt.Sprintf("HUSH_VAULT_SECRET_ID_WRAPPED=%v", a.wrapped)), extra...)
}

// secrets are what hush must never print.
func (a appRole) secrets(f authFixture) []string { return []string{f.value, a.secretID, a.roleID} }

// eachSecretID runs test with a plain and with a response-wrapped secret
// id, each in a parallel subtest with a fixture of its own.
func eachSecretID(t *testing.T, test func(t *testing.T, f authFixture, a appRole)) {
	for _, wrapped := range []bool{false, true} {
		t.Run(fmt.Sprintf("wrapped=%v", wrapped), func(t *testing.T) {
			t.Parallel()
			f := newAuthFixture(t)
			test(t, f, newAppRole(t, f, "1h", "2h", wrapped))
		})
	}
}

// AppRole login with a plain and a response-wrapped secret id; the
// variables hush used are not in the child's environment.
func TestAppRole(t *testing.T) {
	t.Parallel()
	eachSecretID(t, func(t *testing.T, f authFixture, a appRole) {
		out := childFile(t)
		r := startHush(t, a.env(t, f), a.secrets(f), shortChild(out, "S", "HUSH_VAULT_ROLE_ID", "HUSH_VAULT_SECRET_ID_FILE", "VAULT_TOKEN")...)
		r.expectChildSaw(out, "S="+f.value+" HUSH_VAULT_ROLE_ID=<unset> HUSH_VAULT_SECRET_ID_FILE=<unset> VAULT_TOKEN=<unset>")
		if r.countLog("logged in to Vault method=approle") != 1 {
			t.Errorf("expected one AppRole login:\n%s", r.stderr)
		}
	})
}

// A wrong secret id: exit 125, the login failure named, no secret shown.
func TestAppRoleBadSecretID(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	_, roleID := approleRole(t, f, "1h", "2h")
	bad := "bad-" + randomHex(8)
	env := append(baseEnv(), "VAULT_ADDR="+shared.addr, f.ref(),
		"HUSH_VAULT_ROLE_ID="+roleID, "HUSH_VAULT_SECRET_ID_FILE="+writeFile(t, "sid", bad))
	r := startHush(t, env, []string{bad, roleID}, "true")
	r.expectExit(125)
	if want := "log in auth/approle/login: HTTP 400"; r.countLog(want) == 0 {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
}

// A token file (a Vault Agent sink, say), newline included.
func TestTokenFile(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	tok := shared.childToken(t, map[string]any{"policies": []string{f.policy}, "ttl": "1h"})
	env := append(baseEnv(), "VAULT_ADDR="+shared.addr, f.ref(), "HUSH_VAULT_TOKEN_FILE="+writeFile(t, "token", tok+"\n"))
	out := childFile(t)
	r := startHush(t, env, []string{f.value, tok}, shortChild(out, "S", "HUSH_VAULT_TOKEN_FILE")...)
	r.expectChildSaw(out, "S="+f.value+" HUSH_VAULT_TOKEN_FILE=<unset>")
}

// A short-lived VAULT_TOKEN is renewed while hush runs: after three
// renewals its first TTL has long passed, and it still reads a new version.
func TestTokenRenewal(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	tok := shared.childToken(t, map[string]any{"policies": []string{f.policy}, "ttl": "4s", "renewable": true})
	env := append(baseEnv(), "VAULT_ADDR="+shared.addr, "VAULT_TOKEN="+tok, f.ref())
	out := childFile(t)
	r := startHush(t, env, []string{f.value, tok}, args(fastWatch, longChild(out, "S"))...)
	r.waitLines(out, 1)
	r.eventually("three token renewals", func() bool { return r.countLog("renewed hush's Vault token") >= 3 })
	r.expectNewVersion(f, out, "")
}

// A token that reaches its max TTL is replaced by a new AppRole login
// (here twice, with a response-wrapped secret id that can only be
// unwrapped once), and the new token keeps the watch going.
func TestReloginAtMaxTTL(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	a := newAppRole(t, f, "3s", "6s", true)
	// A secret id file without a newline, and "1" for true.
	env := append(baseEnv(), "VAULT_ADDR="+shared.addr, f.ref(),
		"HUSH_VAULT_ROLE_ID="+a.roleID,
		"HUSH_VAULT_SECRET_ID_FILE="+writeFile(t, "secret-id", a.secretID),
		"HUSH_VAULT_SECRET_ID_WRAPPED=1")
	out := childFile(t)
	r := startHush(t, env, a.secrets(f), args(fastWatch, longChild(out, "S"))...)
	r.waitLines(out, 1)
	r.eventually("two new logins", func() bool { return r.countLog("renewed hush's Vault credentials") >= 2 })
	r.expectNewVersion(f, out, "")
	if n := r.countLog("cannot log in to Vault again"); n != 0 {
		t.Errorf("%d failed logins:\n%s", n, r.stderr)
	}
}

// replaceFile swaps a file's content by rename, as the kubelet does.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+randomHex(4))
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// VAULT_WRAP_TTL in hush's environment is the child's business: it wraps
// none of hush's own requests (the AppRole login, the unwrap of a wrapped
// secret id, the mount lookup, the read, the token's lookup and renewal),
// which vault/api would otherwise all wrap; the child still sees it.
func TestWrapTTLChangesNothing(t *testing.T) {
	t.Parallel()
	eachSecretID(t, func(t *testing.T, f authFixture, a appRole) {
		out := childFile(t)
		r := startHush(t, a.env(t, f, "VAULT_WRAP_TTL=60s"), a.secrets(f), shortChild(out, "S", "VAULT_WRAP_TTL")...)
		r.expectChildSaw(out, "S="+f.value+" VAULT_WRAP_TTL=60s")
	})
}

// An environment written for vals logs in unchanged: VAULT_AUTH_METHOD,
// VAULT_ROLE_ID and VAULT_SECRET_ID (the secret id itself), and none of
// them reaches the child (issue 14, item 5).
func TestValsAuthVariables(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	a := newAppRole(t, f, "1h", "2h", false)
	env := append(baseEnv(), "VAULT_ADDR="+shared.addr, f.ref(),
		"VAULT_AUTH_METHOD=approle", "VAULT_ROLE_ID="+a.roleID, "VAULT_SECRET_ID="+a.secretID)
	out := childFile(t)
	r := startHush(t, env, a.secrets(f), shortChild(out, "S", "VAULT_AUTH_METHOD", "VAULT_ROLE_ID", "VAULT_SECRET_ID")...)
	r.expectChildSaw(out, "S="+f.value+" VAULT_AUTH_METHOD=<unset> VAULT_ROLE_ID=<unset> VAULT_SECRET_ID=<unset>")
	if r.countLog("logged in to Vault method=approle") != 1 {
		t.Errorf("expected one AppRole login:\n%s", r.stderr)
	}
}
