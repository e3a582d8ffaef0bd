package vault

import (
	"strings"
	"testing"
)

// Quick rotation settings: poll often, act at once.
var fastWatch = []string{"--poll-interval", "200ms", "--debounce", "50ms", "--stop-timeout", "5s"}

// `vault kv put` of a new version restarts the child with the new value;
// the other secret, unchanged, is not read again.
func TestKVRotation(t *testing.T) {
	t.Parallel()
	id := randomHex(4)
	one, two, other := "one-"+randomHex(8), "two-"+randomHex(8), "other-"+randomHex(8)
	shared.kvPut(t, "secret/rot-"+id, map[string]any{"v": one})
	shared.kvPut(t, "secret/rot-other-"+id, map[string]any{"v": other})
	out := childFile(t)
	env := append(shared.env(), "S=ref+vault://secret/rot-"+id+"#/v", "O=ref+vault://secret/rot-other-"+id+"#/v")
	r := startHush(t, env, []string{one, two, other, shared.token}, args(fastWatch, longChild(out, "S", "O"))...)
	if got := r.waitLines(out, 1); got[0] != "S="+one+" O="+other {
		t.Fatalf("first child saw %q", got[0])
	}
	shared.cli(t, "kv", "put", "secret/rot-"+id, "v="+two)
	got := r.waitLines(out, 2)
	if got[1] != "S="+two+" O="+other {
		t.Errorf("restarted child saw %q", got[1])
	}
	if !strings.Contains(r.stderr.String(), "secrets changed") {
		t.Errorf("no rotation logged:\n%s", r.stderr)
	}
}

// Vault stopped while hush watches: the child keeps running with its
// secrets and hush logs that it keeps trying; Vault back: the watch
// resumes and a new version reaches a new child. (A dev server keeps its
// data in memory, so the restarted one starts empty and the test writes
// the secret again; hush compares versions with their creation time, so a
// rebuilt server's "version 1" is still seen as new.)
func TestVaultStoppedDuringWatch(t *testing.T) {
	t.Parallel()
	v, err := startVault(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.stop)
	one, two := "one-"+randomHex(8), "two-"+randomHex(8)
	v.kvPut(t, "secret/app", map[string]any{"v": one})
	out := childFile(t)
	env := append(v.env(), "S=ref+vault://secret/app#/v")
	r := startHush(t, env, []string{one, two, v.token}, args(fastWatch, longChild(out, "S"))...)
	if got := r.waitLines(out, 1); got[0] != "S="+one {
		t.Fatalf("first child saw %q", got[0])
	}
	v.stop()
	r.eventually("hush to notice Vault is down", func() bool {
		return r.countLog("Vault not reachable; the child keeps its current secrets") > 0
	})
	// A few more failed polls: nothing happens to the child.
	polls := r.countLog("Vault still not reachable")
	r.eventually("more failed polls", func() bool { return r.countLog("Vault still not reachable") >= polls+3 })
	if got := lines(out); len(got) != 1 {
		t.Fatalf("the child was restarted while Vault was down: %q", got)
	}
	if err := v.start(); err != nil {
		t.Fatal(err)
	}
	v.kvPut(t, "secret/app", map[string]any{"v": two})
	got := r.waitLines(out, 2)
	if got[1] != "S="+two {
		t.Errorf("restarted child saw %q", got[1])
	}
	if r.countLog("Vault reachable again") == 0 {
		t.Errorf("recovery not logged:\n%s", r.stderr)
	}
}

// KV v1 has no versions: hush polls the secret itself and compares
// digests; a token that may not read KV v2 metadata polls the data read's
// version instead. Both still rotate the child.
func TestRotationWithoutMetadata(t *testing.T) {
	t.Parallel()
	id := randomHex(4)
	mount := "kv1rot-" + id
	shared.must(t, "POST", "sys/mounts/"+mount, map[string]any{"type": "kv", "options": map[string]any{"version": "1"}})
	one, two, three, four := "one-"+randomHex(8), "two-"+randomHex(8), "three-"+randomHex(8), "four-"+randomHex(8)
	shared.must(t, "PUT", mount+"/app", map[string]any{"v": one})
	shared.kvPut(t, "secret/nometa-"+id, map[string]any{"v": three})
	shared.policy(t, "nometa-"+id, `
path "`+mount+`/app" { capabilities = ["read"] }
path "secret/data/nometa-`+id+`" { capabilities = ["read"] }
`)
	tok := shared.childToken(t, map[string]any{"policies": []string{"nometa-" + id}, "ttl": "1h"})
	out := childFile(t)
	env := append(baseEnv(), "VAULT_ADDR="+shared.addr, "VAULT_TOKEN="+tok,
		"A=ref+vault://"+mount+"/app#/v", "B=ref+vault://secret/nometa-"+id+"#/v")
	r := startHush(t, env, []string{one, two, three, four, tok}, args(fastWatch, longChild(out, "A", "B"))...)
	if got := r.waitLines(out, 1); got[0] != "A="+one+" B="+three {
		t.Fatalf("first child saw %q", got[0])
	}
	shared.must(t, "PUT", mount+"/app", map[string]any{"v": two})
	if got := r.waitLines(out, 2); got[1] != "A="+two+" B="+three {
		t.Fatalf("second child saw %q", got[1])
	}
	shared.kvPut(t, "secret/nometa-"+id, map[string]any{"v": four})
	if got := r.waitLines(out, 3); got[2] != "A="+two+" B="+four {
		t.Errorf("third child saw %q", got[2])
	}
	if r.countLog("may not read KV metadata") == 0 {
		t.Errorf("no fallback to data polling logged:\n%s", r.stderr)
	}
}
