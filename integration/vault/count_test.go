package vault

import (
	"fmt"
	"strings"
	"testing"
)

// countFixture is 5 KV v2 secrets of 4 keys each, and the 20 variables
// that reference them, read by a token of its own whose display name picks
// hush's requests out of the shared server's audit log.
type countFixture struct {
	prefix  string // secret/count-ID/
	display string
	token   string
	env     []string
	values  []string
}

func newCountFixture(t *testing.T) countFixture {
	t.Helper()
	id := randomHex(4)
	f := countFixture{prefix: "secret/count-" + id + "/", display: "count-" + id}
	for p := 1; p <= 5; p++ {
		data := map[string]any{}
		for k := 1; k <= 4; k++ {
			v := fmt.Sprintf("v%d%d-%s", p, k, randomHex(6))
			data[fmt.Sprintf("k%d", k)] = v
			f.values = append(f.values, v)
			f.env = append(f.env, fmt.Sprintf("V_%d_%d=ref+vault://%sp%d#/k%d", p, k, f.prefix, p, k))
		}
		shared.kvPut(t, fmt.Sprintf("%sp%d", f.prefix, p), data)
	}
	f.token = shared.childToken(t, map[string]any{"policies": []string{"root"}, "display_name": f.display, "ttl": "1h"})
	return f
}

// requests returns the audit log's requests made with the fixture's token.
func (f countFixture) requests(t *testing.T) []auditRequest {
	var out []auditRequest
	for _, r := range auditRequests(t) {
		if r.Display == "token-"+f.display {
			out = append(out, r)
		}
	}
	return out
}

func count(reqs []auditRequest, pred func(auditRequest) bool) int {
	n := 0
	for _, r := range reqs {
		if pred(r) {
			n++
		}
	}
	return n
}

// 20 variables over 5 paths: exactly 5 data reads at start-up, one per
// path, counted in Vault's own audit log.
func TestRequestCountAtStartup(t *testing.T) {
	t.Parallel()
	f := newCountFixture(t)
	env := append(append(baseEnv(), "VAULT_ADDR="+shared.addr, "VAULT_TOKEN="+f.token), f.env...)
	out := childFile(t)
	r := startHush(t, env, append(f.values, f.token), shortChild(out, "V_1_1", "V_5_4")...)
	r.expectChildSaw(out, fmt.Sprintf("V_1_1=%s V_5_4=%s", f.values[0], f.values[19]))
	reqs := f.requests(t)
	dataPrefix := "secret/data/count-" + strings.TrimPrefix(f.display, "count-") + "/"
	for p := 1; p <= 5; p++ {
		path := fmt.Sprintf("%sp%d", dataPrefix, p)
		if n := count(reqs, func(r auditRequest) bool { return r.Path == path }); n != 1 {
			t.Errorf("%d reads of %s, want 1", n, path)
		}
	}
	if n := count(reqs, func(r auditRequest) bool { return strings.HasPrefix(r.Path, "secret/data/") }); n != 5 {
		t.Errorf("%d data reads, want 5", n)
	}
	var paths []string
	for _, r := range reqs {
		paths = append(paths, r.Operation+" "+r.Path)
	}
	t.Logf("hush's requests at start-up (%d): %s", len(reqs), strings.Join(paths, ", "))
}

// While watching, each poll costs one metadata read per KV v2 secret and
// reads no value.
func TestRequestsPerPoll(t *testing.T) {
	t.Parallel()
	f := newCountFixture(t)
	env := append(append(baseEnv(), "VAULT_ADDR="+shared.addr, "VAULT_TOKEN="+f.token), f.env...)
	out := childFile(t)
	r := startHush(t, env, append(f.values, f.token), args([]string{"--poll-interval", "300ms"}, longChild(out, "V_1_1"))...)
	r.waitLines(out, 1)
	metaPrefix := "secret/metadata/count-" + strings.TrimPrefix(f.display, "count-") + "/"
	metaReads := func(p int) int {
		path := fmt.Sprintf("%sp%d", metaPrefix, p)
		return count(f.requests(t), func(r auditRequest) bool { return r.Path == path })
	}
	r.eventually("three polls", func() bool { return metaReads(5) >= 3 })
	r.kill()
	r.wait()
	reqs := f.requests(t)
	polls := metaReads(1)
	for p := 2; p <= 5; p++ {
		if n := metaReads(p); n < polls-1 || n > polls+1 {
			t.Errorf("%d metadata reads of p%d, %d of p1", n, p, polls)
		}
	}
	if n := count(reqs, func(r auditRequest) bool { return strings.HasPrefix(r.Path, "secret/data/") }); n != 5 {
		t.Errorf("%d data reads, want the 5 of start-up only", n)
	}
	other := count(reqs, func(r auditRequest) bool {
		return !strings.HasPrefix(r.Path, "secret/data/") && !strings.HasPrefix(r.Path, metaPrefix)
	})
	t.Logf("%d polls: %d metadata reads (%d per poll for 5 secrets), %d other requests in all (mount preflight, token lookup)",
		polls, count(reqs, func(r auditRequest) bool { return strings.HasPrefix(r.Path, metaPrefix) }),
		count(reqs, func(r auditRequest) bool { return strings.HasPrefix(r.Path, metaPrefix) })/max(polls, 1), other)
}

// HUSH_VAULT_KV_MOUNTS tells hush what it would ask Vault at every start:
// no mount lookup, the reads alone. A declaration Vault contradicts is an
// error naming the setting, even for an optional reference (which a wrong
// KV version would otherwise turn into a silently unset variable).
func TestDeclaredKVMounts(t *testing.T) {
	t.Parallel()
	f := newCountFixture(t)
	env := append(append(baseEnv(), "VAULT_ADDR="+shared.addr, "VAULT_TOKEN="+f.token, "HUSH_VAULT_KV_MOUNTS=secret=2"), f.env...)
	out := childFile(t)
	r := startHush(t, env, append(f.values, f.token), shortChild(out, "V_1_1", "V_5_4", "HUSH_VAULT_KV_MOUNTS")...)
	r.expectChildSaw(out, fmt.Sprintf("V_1_1=%s V_5_4=%s HUSH_VAULT_KV_MOUNTS=<unset>", f.values[0], f.values[19]))
	reqs := f.requests(t)
	if n := count(reqs, func(r auditRequest) bool { return strings.HasPrefix(r.Path, "sys/internal/ui/mounts") }); n != 0 {
		t.Errorf("%d mount lookups for a declared mount", n)
	}
	if n := count(reqs, func(r auditRequest) bool { return strings.HasPrefix(r.Path, "secret/data/") }); n != 5 {
		t.Errorf("%d data reads, want 5", n)
	}

	kv := newKVFixture(t) // kv1-ID/ is a KV v1 mount
	mount, _, _ := strings.Cut(kv.v1, "/")
	env = append(shared.env(), "HUSH_VAULT_KV_MOUNTS="+mount+"=2", "X=ref+vault://"+kv.v1+"?optional=true#/password")
	r = startHush(t, env, kv.secretsToCheck, "--", "true")
	r.expectExit(125)
	if !strings.Contains(r.stderr.String(), "HUSH_VAULT_KV_MOUNTS declares "+mount+"/ a KV v2 mount, and Vault says "+mount+"/ is KV v1") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}
