package vault

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/hushinit/hush/sources/internal/remote"
)

// mountKind is what a secret's mount holds, as far as reading goes.
type mountKind int

const (
	kindOther mountKind = iota // database, pki, aws, ...: a plain logical read
	kindKV1
	kindKV2
)

func (k mountKind) String() string {
	switch k {
	case kindKV1:
		return "KV v1"
	case kindKV2:
		return "KV v2"
	}
	return "non-KV"
}

type mountInfo struct {
	path     string // "secret/"
	kind     mountKind
	declared bool // from HUSH_VAULT_KV_MOUNTS, not asked of Vault
}

// mountCache remembers the mounts found by preflight requests. Mount paths
// never nest in Vault, so a path under a known mount needs no new
// preflight; preflights run one at a time so that the references of one
// mount read at start-up cost one.
type mountCache struct {
	gate  *remote.Gate
	once  sync.Once
	mu    sync.Mutex
	known map[string]mountInfo
}

func (c *mountCache) lookup(p string) (mountInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	paths := make([]string, 0, len(c.known))
	for m := range c.known {
		paths = append(paths, m)
	}
	m := mountOf(p, paths)
	if m == "" {
		return mountInfo{}, false
	}
	return c.known[m], true
}

// mount finds the mount of a logical path the way `vault kv get` does:
// GET sys/internal/ui/mounts/PATH, whose options.version says "2" for KV
// v2.
//
// A mount the operator declared in HUSH_VAULT_KV_MOUNTS needs no lookup
// (one request less per container start); verify checks the declaration
// against Vault when a read under it finds nothing.
func (b *Backend) mount(ctx context.Context, logical string) (mountInfo, error) {
	c := &b.mounts
	c.once.Do(func() {
		c.gate = remote.NewGate()
		c.known = map[string]mountInfo{}
		for p, k := range b.set.kvMounts {
			c.known[p] = mountInfo{path: p, kind: k, declared: true}
		}
	})
	if m, ok := c.lookup(logical); ok {
		return m, nil
	}
	return b.lookupMount(ctx, logical)
}

// verify asks Vault what is mounted at a declared mount, and reports a
// declaration that does not match: a secret missing under a wrong
// declaration must not read as "not found" (an optional reference would be
// silently unset).
func (b *Backend) verify(ctx context.Context, logical string, declared mountInfo) error {
	actual, err := b.lookupMount(ctx, logical)
	if err != nil {
		return err
	}
	if actual.path != declared.path || actual.kind != declared.kind {
		return fmt.Errorf("%s declares %s a %s mount, and Vault says %s is %s: correct the setting",
			EnvKVMounts, declared.path, declared.kind, actual.path, actual.kind)
	}
	return nil
}

// lookupMount asks Vault, one lookup at a time, and remembers the answer.
func (b *Backend) lookupMount(ctx context.Context, logical string) (mountInfo, error) {
	c := &b.mounts
	if err := c.gate.Enter(ctx, "the mount lookup"); err != nil {
		return mountInfo{}, err
	}
	defer c.gate.Leave()
	if m, ok := c.lookup(logical); ok && !m.declared {
		return m, nil
	}
	apiPath := "sys/internal/ui/mounts/" + logical
	s, err := b.call(ctx, "find the mount of", logical, untilDeadline, func(ctx context.Context) (*response, error) {
		return b.client.read(ctx, apiPath, nil, b.token())
	})
	if err != nil {
		return mountInfo{}, err
	}
	if s == nil {
		// 404: a Vault older than the endpoint, which the CLI takes for
		// KV v1 mounted at the first segment.
		return mountInfo{path: firstSegment(logical), kind: kindKV1}, nil
	}
	m, err := parseMount(s)
	if err != nil {
		return mountInfo{}, fmt.Errorf("find the mount of %s: %w", logical, err)
	}
	if !strings.HasPrefix(logical+"/", m.path) {
		return mountInfo{}, fmt.Errorf("find the mount of %s: Vault answered with mount %q", logical, m.path)
	}
	c.mu.Lock()
	if cur, ok := c.known[m.path]; !ok || !cur.declared {
		c.known[m.path] = m
	}
	c.mu.Unlock()
	b.log.Debug("Vault mount", "mount", m.path, "kind", m.kind.String())
	return m, nil
}

// parseMount reads a preflight answer: data.path ("secret/"), data.type
// ("kv") and data.options.version ("2").
func parseMount(s *response) (mountInfo, error) {
	var data map[string]any
	if s != nil {
		data = s.Data.fields()
	}
	if data == nil {
		return mountInfo{}, fmt.Errorf("no mount there")
	}
	p, _ := data["path"].(string)
	if p == "" {
		return mountInfo{}, fmt.Errorf("no mount path in Vault's answer")
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	m := mountInfo{path: p, kind: kindOther}
	typ, _ := data["type"].(string)
	version := ""
	if opts, ok := data["options"].(map[string]any); ok {
		version, _ = opts["version"].(string)
	}
	switch {
	case version == "2":
		m.kind = kindKV2
	case typ == "kv" || typ == "generic":
		m.kind = kindKV1
	}
	return m, nil
}

func firstSegment(p string) string {
	seg, _, _ := strings.Cut(p, "/")
	return seg + "/"
}
