package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hushinit/hush/shim"
	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/delivery"
	"github.com/hushinit/hush/sources/rotation"
)

// maxEnvString is Linux's limit on one NAME=value string passed to execve
// (MAX_ARG_STRLEN, 32 pages, NUL included); a longer one fails with E2BIG.
const maxEnvString = 32 * 4096

// secretPlan is what hush knows about the references before reading any:
// which variables pass through, which are references, and how each is
// delivered.
type secretPlan struct {
	opts     options
	plain    []string
	reqs     []sources.Request
	resolver *sources.Resolver
	user     *shim.User
	log      *slog.Logger
	files    *delivery.Dir // created on first use

	rotation *rotation.Controller // nil when nothing can be watched
	// onFirstValues starts rotation once the first child's values exist.
	onFirstValues func([]sources.Value)
}

func newSecretPlan(opts options, environ []string, getenv func(string) string, workDir string, user *shim.User, log *slog.Logger) (*secretPlan, error) {
	backends := registerBackends(backendConfig{workDir: workDir, getenv: getenv, opts: opts, log: log})
	resolver := &sources.Resolver{Backends: backends, Logger: log}
	plain, reqs, err := sources.Scan(environ, sources.ScanOptions{
		FileEnvPatterns: opts.fileEnv,
		KnownBackends:   resolver.HasBackend,
		ValidateRef:     resolver.ValidateRef,
	})
	if err != nil {
		return nil, err
	}
	return &secretPlan{
		opts:     opts,
		plain:    scrub(plain, opts.keepEnv),
		reqs:     reqs,
		resolver: resolver,
		user:     user,
		log:      log,
	}, nil
}

// scrub removes hush's own settings from what the child inherits: they are
// hush's business, and some (HUSH_VAULT_SECRET_ID_FILE, ...) point at
// credentials. --keep-env keeps a variable on purpose.
func scrub(env []string, keep []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "HUSH_") && !slices.Contains(keep, name) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (p *secretPlan) asFile(ref sources.Ref) bool {
	return ref.AsFile || p.opts.deliver == "file"
}

// holdsSecrets reports whether hush will read any secret at all.
func (p *secretPlan) holdsSecrets() bool { return len(p.reqs) > 0 }

func (p *secretPlan) hasEnvDelivered() bool {
	for _, r := range p.reqs {
		if !p.asFile(r.Ref) {
			return true
		}
	}
	return false
}

// firstEnvironment reads every secret within the start-up deadline and builds
// the child's environment. It is shim.Prepare.
func (p *secretPlan) firstEnvironment(ctx context.Context) ([]string, error) {
	if len(p.reqs) == 0 {
		return p.plain, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.startupTimeout)
	defer cancel()
	values, err := p.resolve(ctx)
	if err != nil {
		return nil, err
	}
	env, err := p.environment(values)
	if err != nil {
		return nil, err
	}
	if p.onFirstValues != nil {
		p.onFirstValues(values)
	}
	return env, nil
}

func (p *secretPlan) resolve(ctx context.Context) ([]sources.Value, error) {
	return p.resolver.Resolve(ctx, p.reqs, p.resolveOptions())
}

func (p *secretPlan) resolveOptions() sources.ResolveOptions {
	return sources.ResolveOptions{
		EnvDelivery: func(r sources.Request) bool { return !p.asFile(r.Ref) },
	}
}

// environment is the child's environment: the plain variables without the
// credentials hush used, then each secret as a value or as the path of its
// file. It lives only in this process's memory and in the child's; hush's
// own environment is never changed.
func (p *secretPlan) environment(values []sources.Value) ([]string, error) {
	env := p.withoutUsedCredentials()
	for _, v := range values {
		if v.Missing {
			continue
		}
		if !p.asFile(v.Ref) {
			entry := v.Name + "=" + string(v.Secret.Bytes())
			if len(entry) >= maxEnvString {
				return nil, fmt.Errorf("%s: %s: %d bytes is too large for an environment variable (Linux allows %d); "+
					"deliver it as a file with ?as=file or --deliver file", v.Name, v.Ref.Raw, v.Secret.Len(), maxEnvString-1)
			}
			env = append(env, entry)
			continue
		}
		path, err := p.writeFile(v)
		if err != nil {
			return nil, err
		}
		env = append(env, v.Name+"="+path)
	}
	return env, nil
}

func (p *secretPlan) writeFile(v sources.Value) (string, error) {
	if p.files == nil {
		uid, gid := os.Getuid(), os.Getgid()
		if p.user != nil {
			uid, gid = int(p.user.UID), int(p.user.GID)
		}
		dir, err := delivery.Open(p.opts.filesDir, uid, gid)
		if err != nil {
			return "", err
		}
		p.files = dir
	}
	path, err := p.files.Write(v.Name, v.Secret.Bytes())
	if err != nil {
		return "", fmt.Errorf("%s: %w", v.Name, err)
	}
	return path, nil
}

// withoutUsedCredentials drops from the plain variables every credential a
// backend used to log in (invariant 2 of DESIGN.md), unless --keep-env asks
// to keep it.
func (p *secretPlan) withoutUsedCredentials() []string {
	drop := map[string]bool{}
	for _, b := range p.resolver.Backends {
		if cu, ok := b.(sources.CredentialUser); ok {
			for _, name := range cu.UsedCredentials() {
				if !slices.Contains(p.opts.keepEnv, name) {
					drop[name] = true
				}
			}
		}
	}
	if len(drop) == 0 {
		return slices.Clone(p.plain)
	}
	env := make([]string, 0, len(p.plain))
	for _, kv := range p.plain {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[name] {
			env = append(env, kv)
		}
	}
	return env
}

// closeTimeout bounds what backends do at exit (revoking leases, tokens).
const closeTimeout = 5 * time.Second

// Close gives back what the backends hold and removes the secret files, if
// any were written.
func (p *secretPlan) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	for name, b := range p.resolver.Backends {
		if c, ok := b.(sources.Closer); ok {
			if err := c.Close(ctx); err != nil {
				p.log.Warn("backend cleanup failed", "backend", name, "err", err.Error())
			}
		}
	}
	if p.files == nil {
		return
	}
	if err := p.files.Close(); err != nil {
		p.log.Warn("secret files left behind", "err", err.Error())
	}
}
