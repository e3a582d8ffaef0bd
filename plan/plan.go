// Package plan decides what the child gets. From hush's environment and
// settings it works out which variables pass through untouched, which are
// secret references and how each is delivered (a variable or a file), and
// builds the child's environment: hush's own HUSH_* settings and the
// credentials a backend used are removed, secret files are written, and the
// whole is checked against what execve accepts before anything happens to a
// running child. When a secret rotates it turns the new values into what
// --on-change asks of the supervisor.
//
// It is the one package that knows both sides: sources reads secrets and
// knows nothing of processes, shim runs processes and knows nothing of
// secrets, and cmd/hush only parses options and wires the three.
//
// Where things live: plan.go the split, the environment, the scrubbing and
// the files; limits.go what execve accepts; rotate.go the watches and
// --on-change; check.go the table of `hush check`.
//
// One reference, from the environment to the child:
//
//	plan.New            sources.Scan parses and validates every reference once
//	Plan.Watch          the backends' watches go in place, before the first read
//	Plan.Prepare        sources.Resolver.ResolveEach reads each secret once,
//	                    Plan.Environment builds and checks the environment
//	shim.Supervisor.Start  starts the child with it
//	Plan.Rotate         rotation.Controller re-reads on change, Plan.Environment
//	                    rebuilds, a shim.Request goes to Supervisor.Supervise
//	Plan.Close          once Rotate has returned: the backends end and join
//	                    their goroutines, then the secret files are removed
package plan

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/delivery"
	"github.com/hushinit/hush/sources/rotation"
)

// Owner is the user the child runs as, who owns its secret files.
type Owner struct {
	UID, GID int
}

// Config is everything the plan needs, from options and the environment.
type Config struct {
	Environ  []string                   // hush's environment
	Argv     []string                   // the command: counts towards execve's limit
	Backends map[string]sources.Backend // the backends of this build
	FileEnv  []string                   // --file-env patterns
	KeepEnv  []string                   // --keep-env names
	// DeliverFiles (--deliver file) delivers every secret as a file;
	// otherwise only ?as=file references are.
	DeliverFiles bool
	FilesDir     string // --files-dir; "" is delivery.DefaultBase
	Owner        *Owner // nil: hush's own user
	OnChange     OnChange

	StartupTimeout time.Duration // deadline of the first read
	PollInterval   time.Duration
	Debounce       time.Duration
	Splay          time.Duration
	Logger         *slog.Logger
}

// Plan is one run's plan. Its methods are called from one goroutine at a
// time: Prepare before the child starts, Rotate's goroutine afterwards,
// Close once Rotate has returned.
type Plan struct {
	cfg      Config
	log      *slog.Logger
	resolver *sources.Resolver
	plain    []string          // pass-through variables, HUSH_* removed
	reqs     []sources.Request // references, in environment order
	scanErr  error             // every bad reference, reported with what reading the others finds
	files    *delivery.Dir     // created on first use
	rotation *rotation.Controller
	current  []sources.Value // what the running child was given
}

// New scans the environment: it splits pass-through variables from
// references and validates every reference against the backends, with the
// backends' own messages. Bad references do not stop New: they are kept and
// reported by Prepare (or Check) together with every failed read, so that a
// user fixes them all in one round.
func New(cfg Config) *Plan {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	resolver := &sources.Resolver{Backends: cfg.Backends, Logger: cfg.Logger}
	p := &Plan{cfg: cfg, log: cfg.Logger, resolver: resolver}
	plain, reqs, scanErr := sources.Scan(cfg.Environ, sources.ScanOptions{
		FileEnvPatterns: cfg.FileEnv,
		// HUSH_VAULT_TOKEN_FILE is hush's setting, never the child's
		// HUSH_VAULT_TOKEN: it stays a plain variable, scrubbed below.
		Reserved:    func(name string) bool { return strings.HasPrefix(name, "HUSH_") },
		IsBackend:   resolver.HasBackend,
		ValidateRef: resolver.ValidateRef,
	})
	p.scanErr = scanErr
	p.plain = slices.DeleteFunc(plain, func(kv string) bool { return p.scrubbed(envName(kv)) })
	// A reference written into a HUSH_* variable is hush's business and
	// never the child's: it is not even read.
	p.reqs = slices.DeleteFunc(reqs, func(r sources.Request) bool { return p.scrubbed(r.Name) })
	var errs []error
	for _, r := range p.reqs {
		if p.AsFile(r.Ref) {
			if _, err := delivery.FileName(r.Name); err != nil {
				errs = append(errs, &sources.VarError{Name: r.Name, From: r.From, Ref: r.Ref.Raw, Err: err})
			}
		}
	}
	p.scanErr = errors.Join(p.scanErr, errors.Join(errs...))
	return p
}

// scrubbed reports whether a variable of hush's own (HUSH_*) is kept from
// the child. --keep-env keeps one on purpose.
func (p *Plan) scrubbed(name string) bool {
	return strings.HasPrefix(name, "HUSH_") && !slices.Contains(p.cfg.KeepEnv, name)
}

func envName(kv string) string {
	name, _, _ := strings.Cut(kv, "=")
	return name
}

// AsFile reports whether ref's value is delivered as a file.
func (p *Plan) AsFile(ref sources.Ref) bool {
	return ref.AsFile || p.cfg.DeliverFiles
}

// HoldsSecrets reports whether hush will read any secret at all.
func (p *Plan) HoldsSecrets() bool { return len(p.reqs) > 0 }

// EnvDelivered reports whether any secret goes into a variable, which a
// signal cannot update in a running process.
func (p *Plan) EnvDelivered() bool {
	return slices.ContainsFunc(p.reqs, func(r sources.Request) bool { return !p.AsFile(r.Ref) })
}

func (p *Plan) resolveOptions() sources.ResolveOptions {
	return sources.ResolveOptions{
		EnvDelivery: func(r sources.Request) bool { return !p.AsFile(r.Ref) },
	}
}

// Prepare reads every secret within the start-up deadline and builds the
// first child's environment; it fits shim.Prepare. Any bad reference or
// failed read is an error that names every variable concerned.
func (p *Plan) Prepare(ctx context.Context) ([]string, error) {
	values, errs := p.resolve(ctx)
	if err := errors.Join(append([]error{p.scanErr}, errs...)...); err != nil {
		return nil, err
	}
	env, err := p.Environment(values)
	if err != nil {
		return nil, err
	}
	p.current = values
	return env, nil
}

// resolve reads every valid reference within the start-up deadline.
func (p *Plan) resolve(ctx context.Context) ([]sources.Value, []error) {
	if len(p.reqs) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartupTimeout)
	defer cancel()
	return p.resolver.ResolveEach(ctx, p.reqs, p.resolveOptions())
}

// Environment is the child's environment for values: the pass-through
// variables without the credentials hush used, then each secret as a value
// or as the path of its file. It checks the whole against execve's limits
// before it writes any file, so that a set that cannot be delivered changes
// nothing. It lives only in this process's memory and in the child's;
// hush's own environment is never changed.
func (p *Plan) Environment(values []sources.Value) ([]string, error) {
	drop := p.usedCredentials()
	env := slices.DeleteFunc(slices.Clone(p.plain), func(kv string) bool { return drop[envName(kv)] })
	var files []sources.Value // written once the whole environment passed
	for _, v := range values {
		if v.Missing || drop[v.Name] || (v.From != "" && drop[v.From]) {
			// A credential's X_FILE turned into X is that credential
			// too (HUSH_VAULT_SECRET_ID_FILE, a token file).
			continue
		}
		if !p.AsFile(v.Ref) {
			env = append(env, v.Name+"="+string(v.Secret.Bytes()))
			continue
		}
		dir, err := p.filesDir()
		if err != nil {
			return nil, err
		}
		name, err := delivery.FileName(v.Name)
		if err != nil {
			return nil, varError(v, err)
		}
		env = append(env, v.Name+"="+dir+"/"+name)
		files = append(files, v)
	}
	// Without a secret the environment is hush's own, which execve
	// accepted: the kernel is the better judge of it.
	if len(values) > 0 {
		if err := checkExecLimits(env, p.cfg.Argv); err != nil {
			return nil, err
		}
	}
	for _, v := range files {
		if _, err := p.files.Write(v.Name, v.Secret.Bytes()); err != nil {
			return nil, varError(v, err)
		}
	}
	return env, nil
}

func varError(v sources.Value, err error) error {
	return &sources.VarError{Name: v.Name, From: v.From, Ref: v.Ref.Raw, Err: err}
}

// filesDir opens the secret files' directory on first use: a run without
// a file-delivered secret creates nothing.
func (p *Plan) filesDir() (string, error) {
	if p.files == nil {
		uid, gid := os.Getuid(), os.Getgid()
		if p.cfg.Owner != nil {
			uid, gid = p.cfg.Owner.UID, p.cfg.Owner.GID
		}
		dir, err := delivery.Open(p.cfg.FilesDir, uid, gid)
		if err != nil {
			return "", err
		}
		p.files = dir
	}
	return p.files.Path(), nil
}

// usedCredentials names every variable a backend used to log in (invariant
// 2 of DESIGN.md) that --keep-env does not keep.
func (p *Plan) usedCredentials() map[string]bool {
	drop := map[string]bool{}
	for _, b := range p.cfg.Backends {
		if cu, ok := b.(sources.CredentialUser); ok {
			for _, name := range cu.UsedCredentials() {
				if !slices.Contains(p.cfg.KeepEnv, name) {
					drop[name] = true
				}
			}
		}
	}
	return drop
}

// closeTimeout bounds what backends do at exit (revoking leases, tokens).
const closeTimeout = 5 * time.Second

// Close closes the backends — each returns once every goroutine it started
// (watches, polls, renewals) has ended, and gives back what it holds — and
// only then removes the secret files. Call it once Rotate has returned:
// Rotate writes the files, and it returns only when its own goroutine has.
func (p *Plan) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	for name, b := range p.cfg.Backends {
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
