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

// AppRole login with a plain and a response-wrapped secret id; the
// variables hush used are not in the child's environment.
func TestAppRole(t *testing.T) {
	t.Parallel()
	for _, wrapped := range []bool{false, true} {
		t.Run(fmt.Sprintf("wrapped=%v", wrapped), func(t *testing.T) {
			t.Parallel()
			f := newAuthFixture(t)
			role, roleID := approleRole(t, f, "1h", "2h")
			sid := secretID(t, role, wrapped)
			env := append(baseEnv(), "VAULT_ADDR="+shared.addr, f.ref(),
				"HUSH_VAULT_ROLE_ID="+roleID,
				"HUSH_VAULT_SECRET_ID_FILE="+writeFile(t, "secret-id", sid+"\n"),
				fmt.Sprintf("HUSH_VAULT_SECRET_ID_WRAPPED=%v", wrapped))
			out := childFile(t)
			r := startHush(t, env, []string{f.value, sid, roleID}, shortChild(out, "S", "HUSH_VAULT_ROLE_ID", "HUSH_VAULT_SECRET_ID_FILE", "VAULT_TOKEN")...)
			r.expectExit(0)
			want := "S=" + f.value + " HUSH_VAULT_ROLE_ID=<unset> HUSH_VAULT_SECRET_ID_FILE=<unset> VAULT_TOKEN=<unset>"
			if got := lines(out); len(got) != 1 || got[0] != want {
				t.Errorf("child saw %q, want %q", got, want)
			}
			if r.countLog("logged in to Vault method=approle") != 1 {
				t.Errorf("expected one AppRole login:\n%s", r.stderr)
			}
		})
	}
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
	r.expectExit(0)
	if got := lines(out); len(got) != 1 || got[0] != "S="+f.value+" HUSH_VAULT_TOKEN_FILE=<unset>" {
		t.Errorf("child saw %q", got)
	}
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
	next := "next-" + randomHex(8)
	shared.kvPut(t, f.path, map[string]any{"v": next})
	if got := r.waitLines(out, 2); got[1] != "S="+next {
		t.Errorf("child saw %q", got[1])
	}
	r.checkNoLeak([]string{next})
}

// A token that reaches its max TTL is replaced by a new AppRole login
// (here twice, with a response-wrapped secret id that can only be
// unwrapped once), and the new token keeps the watch going.
func TestReloginAtMaxTTL(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	role, roleID := approleRole(t, f, "3s", "6s")
	sid := secretID(t, role, true)
	env := append(baseEnv(), "VAULT_ADDR="+shared.addr, f.ref(),
		"HUSH_VAULT_ROLE_ID="+roleID,
		"HUSH_VAULT_SECRET_ID_FILE="+writeFile(t, "secret-id", sid),
		"HUSH_VAULT_SECRET_ID_WRAPPED=1")
	out := childFile(t)
	r := startHush(t, env, []string{f.value, sid, roleID}, args(fastWatch, longChild(out, "S"))...)
	r.waitLines(out, 1)
	r.eventually("two new logins", func() bool { return r.countLog("renewed hush's Vault credentials") >= 2 })
	next := "next-" + randomHex(8)
	shared.kvPut(t, f.path, map[string]any{"v": next})
	if got := r.waitLines(out, 2); got[1] != "S="+next {
		t.Errorf("child saw %q", got[1])
	}
	if n := r.countLog("cannot log in to Vault again"); n != 0 {
		t.Errorf("%d failed logins:\n%s", n, r.stderr)
	}
	r.checkNoLeak([]string{next})
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
	for _, wrapped := range []bool{false, true} {
		t.Run(fmt.Sprintf("wrapped=%v", wrapped), func(t *testing.T) {
			t.Parallel()
			f := newAuthFixture(t)
			role, roleID := approleRole(t, f, "1h", "2h")
			sid := secretID(t, role, wrapped)
			env := append(baseEnv(), "VAULT_ADDR="+shared.addr, f.ref(), "VAULT_WRAP_TTL=60s",
				"HUSH_VAULT_ROLE_ID="+roleID,
				"HUSH_VAULT_SECRET_ID_FILE="+writeFile(t, "secret-id", sid+"\n"),
				fmt.Sprintf("HUSH_VAULT_SECRET_ID_WRAPPED=%v", wrapped))
			out := childFile(t)
			r := startHush(t, env, []string{f.value, sid, roleID}, shortChild(out, "S", "VAULT_WRAP_TTL")...)
			r.expectExit(0)
			if got := lines(out); len(got) != 1 || got[0] != "S="+f.value+" VAULT_WRAP_TTL=60s" {
				t.Errorf("child saw %q", got)
			}
		})
	}
}

// An environment written for vals logs in unchanged: VAULT_AUTH_METHOD,
// VAULT_ROLE_ID and VAULT_SECRET_ID (the secret id itself), and none of
// them reaches the child (issue 14, item 5).
func TestValsAuthVariables(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	role, roleID := approleRole(t, f, "1h", "2h")
	sid := secretID(t, role, false)
	env := append(baseEnv(), "VAULT_ADDR="+shared.addr, f.ref(),
		"VAULT_AUTH_METHOD=approle", "VAULT_ROLE_ID="+roleID, "VAULT_SECRET_ID="+sid)
	out := childFile(t)
	r := startHush(t, env, []string{f.value, sid, roleID}, shortChild(out, "S", "VAULT_AUTH_METHOD", "VAULT_ROLE_ID", "VAULT_SECRET_ID")...)
	r.expectExit(0)
	want := "S=" + f.value + " VAULT_AUTH_METHOD=<unset> VAULT_ROLE_ID=<unset> VAULT_SECRET_ID=<unset>"
	if got := lines(out); len(got) != 1 || got[0] != want {
		t.Errorf("child saw %q, want %q", got, want)
	}
	if r.countLog("logged in to Vault method=approle") != 1 {
		t.Errorf("expected one AppRole login:\n%s", r.stderr)
	}
}
