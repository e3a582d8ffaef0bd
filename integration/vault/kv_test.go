package vault

import (
	"fmt"
	"strings"
	"testing"
)

// kvFixture writes, on the shared server, a KV v2 secret with two versions
// and a KV v1 mount with one secret, all under names of its own.
type kvFixture struct {
	v2, v1         string // logical paths: secret/..., kv1-.../app
	pwV1, pwV2     string // the KV v2 password, versions 1 and 2
	pwKV1          string // the KV v1 password
	secretsToCheck []string
}

func newKVFixture(t *testing.T) kvFixture {
	t.Helper()
	id := randomHex(4)
	f := kvFixture{
		v2:    "secret/kv-" + id + "/app",
		v1:    "kv1-" + id + "/app",
		pwV1:  "pw1-" + randomHex(8),
		pwV2:  "pw2<&>\"'-" + randomHex(8), // characters JSON and shells care about
		pwKV1: "kv1pw-" + randomHex(8),
	}
	shared.kvPut(t, f.v2, map[string]any{"password": f.pwV1, "user": "bob"})
	shared.kvPut(t, f.v2, map[string]any{"password": f.pwV2, "user": "bob", "port": 5432, "nested": map[string]any{"a": "b"}})
	shared.must(t, "POST", "sys/mounts/kv1-"+id, map[string]any{"type": "kv", "options": map[string]any{"version": "1"}})
	shared.must(t, "PUT", f.v1, map[string]any{"password": f.pwKV1})
	f.secretsToCheck = []string{f.pwV1, f.pwV2, f.pwKV1, shared.token}
	return f
}

// KV v2 and v1, pointers, ?version=, non-string values, VAULT_TOKEN
// scrubbed from the child, VAULT_WRAP_TTL ignored for hush's reads.
func TestKVResolve(t *testing.T) {
	t.Parallel()
	f := newKVFixture(t)
	out := childFile(t)
	env := append(shared.env(),
		"VAULT_WRAP_TTL=30s",
		"A=ref+vault://"+f.v2+"#/password",
		"B=ref+vault://"+f.v2+"?version=1#/password",
		"C=ref+vault://"+f.v1+"#/password",
		"D=ref+vault://"+f.v2+"#/port",
		"E=ref+vault://"+f.v2+"#/nested",
		"F=ref+vault://"+f.v2+"#/user",
		"PLAIN=plain",
	)
	r := startHush(t, env, f.secretsToCheck, shortChild(out, "A", "B", "C", "D", "E", "F", "PLAIN", "VAULT_TOKEN", "VAULT_WRAP_TTL", "VAULT_ADDR")...)
	r.expectExit(0)
	want := fmt.Sprintf(`A=%s B=%s C=%s D=5432 E={"a":"b"} F=bob PLAIN=plain VAULT_TOKEN=<unset> VAULT_WRAP_TTL=30s VAULT_ADDR=%s`,
		f.pwV2, f.pwV1, f.pwKV1, shared.addr)
	if got := lines(out); len(got) != 1 || got[0] != want {
		t.Errorf("child saw\n%q\nwant\n%q", got, want)
	}
}

// The whole secret without a pointer is its data as JSON; --keep-env keeps
// the token for a child that talks to Vault itself.
func TestKVWholeDocumentAndKeepEnv(t *testing.T) {
	t.Parallel()
	id := randomHex(4)
	pw := "whole-" + randomHex(8)
	shared.kvPut(t, "secret/whole-"+id, map[string]any{"b": pw, "a": "x"})
	out := childFile(t)
	env := append(shared.env(), "DOC=ref+vault://secret/whole-"+id)
	r := startHush(t, env, []string{pw, shared.token}, args([]string{"--keep-env", "VAULT_TOKEN"}, shortChild(out, "DOC", "VAULT_TOKEN"))...)
	r.expectChildSaw(out, fmt.Sprintf(`DOC={"a":"x","b":"%s"} VAULT_TOKEN=%s`, pw, shared.token))
}

// Every failure is exit 125 before anything starts, naming the variable and
// the reference, never a value.
func TestKVErrors(t *testing.T) {
	t.Parallel()
	f := newKVFixture(t)
	cases := []struct {
		name, value string
		wantErr     []string
	}{
		{"missing key", "ref+vault://" + f.v2 + "#/nokey", []string{"X: ref+vault://" + f.v2 + "#/nokey"}},
		{"missing secret", "ref+vault://secret/no-such-" + randomHex(4) + "#/a", []string{"X: ref+vault://secret/no-such-", "no secret at"}},
		{"data path written", "ref+vault://secret/data/kv-x/app", []string{"write the logical path"}},
		{"missing kv1 secret", "ref+vault://" + f.v1 + "-nope#/password", []string{"X: ", "no secret at"}},
		{"missing version", "ref+vault://" + f.v2 + "?version=9#/password", []string{"X: ", "version=9"}},
		{"version on kv1", "ref+vault://" + f.v1 + "?version=1#/password", []string{"X: ", "KV v2"}},
		{"bad version", "ref+vault://" + f.v2 + "?version=abc", []string{"X: ", `version "abc"`}},
		{"vals credential param", "ref+vault://" + f.v2 + "?token_file=/t#/password", []string{"X: ", "HUSH_VAULT_TOKEN_FILE"}},
		{"unknown param", "ref+vault://" + f.v2 + "?colour=red", []string{"X: ", `"colour"`}},
		{"leading slash", "ref+vault:///secret/x", []string{"X: ", "leading slash"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			marker := childFile(t)
			env := append(shared.env(), "X="+c.value, "OK=ref+vault://"+f.v2+"#/password")
			r := startHush(t, env, f.secretsToCheck, shortChild(marker, "X")...)
			r.expectExit(125)
			for _, w := range c.wantErr {
				if !strings.Contains(r.stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if len(lines(marker)) != 0 {
				t.Errorf("the child ran")
			}
		})
	}
	t.Run("optional missing", func(t *testing.T) {
		t.Parallel()
		out := childFile(t)
		env := append(shared.env(), "X=ref+vault://secret/no-such-"+randomHex(4)+"?optional=true#/a",
			"Y=ref+vault://"+f.v2+"?optional=true#/nokey")
		r := startHush(t, env, f.secretsToCheck, shortChild(out, "X")...)
		r.expectChildSaw(out, "X=<unset>")
	})
}

// A Vault that cannot be reached at start: hush retries until the start-up
// deadline, then exits 125 with the address and the cause.
func TestVaultDownAtStart(t *testing.T) {
	t.Parallel()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("http://127.0.0.1:%d", port)
	marker := childFile(t)
	env := append(baseEnv(), "VAULT_ADDR="+addr, "VAULT_TOKEN=tok-"+randomHex(8), "DB_PASSWORD=ref+vault://secret/app#/password")
	r := startHush(t, env, nil, args([]string{"--startup-timeout", "3s"}, shortChild(marker, "DB_PASSWORD"))...)
	r.expectExit(125)
	for _, w := range []string{"DB_PASSWORD: ref+vault://secret/app#/password", "Vault at " + addr, "connection refused", "retrying until the deadline"} {
		if !strings.Contains(r.stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	if len(lines(marker)) != 0 {
		t.Errorf("the child ran")
	}
}

// No credentials at all: Vault refuses, and hush says what to set.
func TestNoCredentials(t *testing.T) {
	t.Parallel()
	env := append(baseEnv(), "VAULT_ADDR="+shared.addr, "X=ref+vault://secret/app#/password")
	r := startHush(t, env, nil, "true")
	r.expectExit(125)
	if !strings.Contains(r.stderr.String(), "no Vault credentials configured") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

// No VAULT_ADDR and no VAULT_AGENT_ADDR: vault/api would fall back to
// https://127.0.0.1:8200, which in a container is nothing, and hush would
// retry it until the start-up deadline. It fails at once instead (here
// well before a 10-minute deadline), naming what to set.
func TestNoVaultAddress(t *testing.T) {
	t.Parallel()
	env := append(baseEnv(), "VAULT_TOKEN=tok-"+randomHex(8), "X=ref+vault://secret/app#/password")
	r := startHush(t, env, nil, "--startup-timeout", "10m", "--", "true")
	r.expectExit(125)
	for _, w := range []string{"X: ref+vault://secret/app#/password", "VAULT_ADDR", "VAULT_AGENT_ADDR"} {
		if !strings.Contains(r.stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	if strings.Contains(r.stderr.String(), "retrying") {
		t.Errorf("hush retried:\n%s", r.stderr)
	}
}

// A reference written for vals without a fragment (vals reads the last
// segment as a key of the secret above it) is never read as something
// else: hush names the form to write, optional or not (issue 14, item 4).
func TestValsFormWithoutFragment(t *testing.T) {
	t.Parallel()
	f := newKVFixture(t)
	for _, tc := range []struct{ name, path, want string }{
		{"KV v2", f.v2 + "/password", "write ref+vault://" + f.v2 + "#/password"},
		{"KV v1", f.v1 + "/password", "write ref+vault://" + f.v1 + "#/password"},
	} {
		for _, q := range []string{"", "?optional=true"} {
			t.Run(tc.name+q, func(t *testing.T) {
				env := append(shared.env(), "X=ref+vault://"+tc.path+q)
				r := startHush(t, env, f.secretsToCheck, "--", "true")
				r.expectExit(125)
				if !strings.Contains(r.stderr.String(), tc.want) {
					t.Errorf("stderr lacks %q:\n%s", tc.want, r.stderr)
				}
			})
		}
	}
	// A key the parent does not have stays a plain missing secret.
	env := append(shared.env(), "X=ref+vault://"+f.v2+"/nokey?optional=true")
	r := startHush(t, env, f.secretsToCheck, "--", "true")
	r.expectExit(0)
}
