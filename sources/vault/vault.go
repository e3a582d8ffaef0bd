// Package vault is the HashiCorp Vault backend:
//
//	ref+vault://MOUNT/PATH[?version=N][#/json/pointer]
//
// PATH is the logical path, as `vault kv get` and vals take it
// (secret/myapp, not secret/data/myapp): hush asks Vault what is mounted
// there (sys/internal/ui/mounts/PATH, the CLI's preflight) and reads KV v2
// through its data/ API path, KV v1 and every other engine (database, pki
// with generate_lease, aws, ...) with a plain logical read. The document is
// the JSON of the secret's data, so that #/pointer selects a field.
//
// References to the same path are one read, so a dynamic database
// credential's username and password come from one lease. Leases and hush's
// own token are renewed while hush runs; a lease that cannot be renewed any
// further (max TTL, revoked) makes the watcher report its group, whose
// re-read takes a new lease and rotates the child. KV v2 secrets are polled
// for a new version (a metadata read per secret and poll), KV v1 and other
// non-leased reads for a new content.
//
// Nothing touches the network before the first Read or the first poll:
// most runs reference no Vault secret, and start-up cost is a budget.
package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hushinit/hush/sources"

	"github.com/hushinit/hush/sources/internal/background"
	"github.com/hushinit/hush/sources/internal/remote"
)

// Name is the backend name in references.
const Name = "vault"

// Config is what hush gives the backend at construction.
type Config struct {
	// Getenv reads hush's own environment: VAULT_ADDR, VAULT_TOKEN, vals'
	// VAULT_* auth names and HUSH_VAULT_*. The connection settings
	// (VAULT_CACERT, VAULT_NAMESPACE, ...) are read by vault/api's
	// ReadEnvironment from the process environment, which is the same in
	// hush (main passes os.Getenv); tests of them use t.Setenv.
	Getenv func(string) string
	// RevokeOnExit revokes the leases hush took, and the token it logged
	// in with, when hush exits (--revoke-on-exit).
	RevokeOnExit bool
	Logger       *slog.Logger // names, paths and statuses only, never values or tokens
}

var _ sources.Watcher = (*Backend)(nil)

// Backend reads secrets from Vault. It is safe for concurrent use: the
// resolver reads every group at once.
type Backend struct {
	cfg    Config
	set    settings
	setErr error
	log    *slog.Logger
	used   atomic.Bool
	// routines are the token's and the leases' renewals and the polls;
	// ctx, routines.Context(), ends at Close.
	routines background.Group
	ctx      context.Context
	initOnce sync.Once
	initErr  error
	client   *client

	auth   authState
	down   outage
	mounts mountCache

	// random is the jitter source (0 <= x < 1) and sleep the poll loop's
	// clock; tests inject their own.
	random func() float64
	sleep  func(context.Context, time.Duration) bool

	mu     sync.Mutex
	groups map[sources.GroupKey]*group
	leases []*lease // every lease taken, for --revoke-on-exit
	notify func(sources.GroupKey)
	closed bool
}

// New returns a Vault backend. It reads hush's settings from the
// environment and does nothing else: no client, no network.
func New(cfg Config) *Backend {
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) string { return "" }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{cfg: cfg, log: log, groups: map[sources.GroupKey]*group{}}
	b.ctx = b.routines.Context()
	b.set, b.setErr = readSettings(cfg.Getenv)
	b.auth.gate = remote.NewGate()
	b.auth.changed = make(chan struct{})
	return b
}

// ValidQuery implements sources.QueryValidator: only ?version=N.
func (b *Backend) ValidQuery(query url.Values) error { return validQuery(query) }

// UsedCredentials implements sources.CredentialUser: the variables of the
// auth method, once the backend has been used.
func (b *Backend) UsedCredentials() []string {
	if !b.used.Load() {
		return nil
	}
	return b.set.credentialVars()
}

// group is what hush knows about one referenced secret since its last read.
type group struct {
	kind       mountKind
	logical    string // the path as referenced, cleaned
	apiPath    string // what was read
	mount      string
	pinned     bool     // ?version=N: never changes
	marker     string   // KV v2: "version@created_time" of the version read
	digest     [32]byte // other non-leased reads: digest of the document
	lease      *lease   // dynamic secrets: the current lease
	metaDenied bool     // the token may not read KV v2 metadata: poll the data
}

// Read implements sources.Backend.
func (b *Backend) Read(ctx context.Context, path string, query url.Values) (sources.Secret, error) {
	if err := validQuery(query); err != nil {
		return sources.Secret{}, err
	}
	logical, err := cleanPath(path)
	if err != nil {
		return sources.Secret{}, err
	}
	if err := b.start(ctx); err != nil {
		return sources.Secret{}, err
	}
	m, err := b.mount(ctx, logical)
	if err != nil {
		return sources.Secret{}, err
	}
	version := versionOf(query)
	g := &group{kind: m.kind, mount: m.path, pinned: version > 0, logical: logical, apiPath: logical}
	var params url.Values
	if m.kind == kindKV2 {
		g.apiPath = kvPath(m.path, logical, "data")
		if version > 0 {
			params = url.Values{paramVersion: {fmt.Sprint(version)}}
		}
	} else if version > 0 {
		return sources.Secret{}, fmt.Errorf("?version= needs a KV v2 secret, and %s is a %s mount", m.path, m.kind)
	}
	s, err := b.call(ctx, "read", g.apiPath, untilDeadline, func(ctx context.Context) (*response, error) {
		return b.client.read(ctx, g.apiPath, params, b.token())
	})
	if err != nil {
		return sources.Secret{}, err
	}
	if s == nil && m.declared {
		if err := b.verify(ctx, logical, m); err != nil {
			return sources.Secret{}, err
		}
	}
	data, marker, err := documentOf(m, logical, version, s)
	if err != nil {
		if s == nil {
			if hint := b.valsForm(ctx, m, logical); hint != nil {
				return sources.Secret{}, hint
			}
		}
		return sources.Secret{}, err
	}
	doc, err := encodeDoc(data)
	if err != nil {
		return sources.Secret{}, fmt.Errorf("%s: %w", logical, err)
	}
	s.Data = nil // the answer's buffer: only the document is kept
	g.marker = marker
	g.digest = sha256.Sum256(doc)
	key := sources.GroupKey{Backend: Name, Path: path, Query: query.Encode()}
	b.record(key, g, logical, s)
	return sources.NewSecret(doc), nil
}

// documentOf picks the secret's data out of a read's response, as a slice
// of the answer.
func documentOf(m mountInfo, logical string, version int, s *response) (rawJSON, string, error) {
	missing := func(format string, args ...any) error {
		return sources.NotFound(fmt.Errorf(format, args...))
	}
	if s == nil {
		hint := ""
		if m.kind == kindKV2 && hasSegmentPrefix(logical, m.path, "data") {
			hint = fmt.Sprintf(" (write the logical path, without %sdata/)", m.path)
		}
		return nil, "", missing("no secret at %s%s", logical, hint)
	}
	if m.kind != kindKV2 {
		return s.Data, "", nil
	}
	var kv struct {
		Data     rawJSON `json:"data"`
		Metadata rawJSON `json:"metadata"`
	}
	if len(s.Data) > 0 && json.Unmarshal(s.Data, &kv) != nil {
		return nil, "", fmt.Errorf("%s: Vault's answer is not a KV v2 secret", logical)
	}
	if len(kv.Data) == 0 {
		v := "the latest version"
		if version > 0 {
			v = fmt.Sprintf("version %d", version)
		}
		return nil, "", missing("%s of %s is deleted or destroyed", v, logical)
	}
	meta := kv.Metadata.fields()
	return kv.Data, markerOf(meta["version"], meta["created_time"]), nil
}

// valsForm looks, when nothing is at logical, for the reading vals gives
// a reference without a fragment: ref+vault://secret/foo/mykey is the key
// mykey of secret/foo to vals, the secret secret/foo/mykey to hush. If the
// parent holds such a key, the reference was written for vals, and hush
// says what to write instead rather than report a missing secret (which an
// optional reference would turn into a silently unset variable). One more
// read, on the failure path only.
func (b *Backend) valsForm(ctx context.Context, m mountInfo, logical string) error {
	i := strings.LastIndex(logical, "/")
	if i < 0 || m.kind == kindOther {
		return nil
	}
	parent, key := logical[:i], logical[i+1:]
	if !strings.HasPrefix(parent+"/", m.path) || parent+"/" == m.path {
		return nil // the parent is the mount itself
	}
	apiPath := parent
	if m.kind == kindKV2 {
		apiPath = kvPath(m.path, parent, "data")
	}
	s, err := b.call(ctx, "read", apiPath, once, func(ctx context.Context) (*response, error) {
		return b.client.read(ctx, apiPath, nil, b.token())
	})
	if err != nil || s == nil {
		return nil
	}
	data, _, err := documentOf(m, parent, 0, s)
	if err != nil {
		return nil
	}
	if _, found, _ := sources.JSONMember(data, key); !found {
		return nil
	}
	return fmt.Errorf("no secret at %s, but %s has a key %q: vals reads ref+vault://%s as that key; "+
		"hush reads paths, so write ref+vault://%s#/%s", logical, parent, key, logical, parent, key)
}

// markerOf identifies a KV v2 version across a server's life: the number
// alone repeats if the secret is deleted and written again, or the server
// is rebuilt.
func markerOf(version, created any) string {
	return fmt.Sprintf("%v@%v", version, created)
}

func hasSegmentPrefix(logical, mount, seg string) bool {
	rel := logical[len(mount)-1:]
	return len(rel) > len(seg)+1 && rel[1:len(seg)+1] == seg && rel[len(seg)+1] == '/'
}

// encodeDoc renders a secret's data as compact JSON without HTML escaping
// (a value with "<" must come out as written), in one buffer the size of
// the data. Vault sends its maps with sorted keys, so the document reads as
// if hush had decoded and encoded it, at a fraction of the memory.
func encodeDoc(data rawJSON) ([]byte, error) {
	if len(data) == 0 {
		return []byte("{}"), nil
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("the secret's data is not a JSON object")
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(data)))
	if err := json.Compact(buf, data); err != nil {
		return nil, errors.New("the secret's data is not valid JSON")
	}
	return unescapeHTML(buf.Bytes()), nil
}

// unescapeHTML turns the escapes Go's encoder writes for <, > and & back
// into the characters, in place. Only real escapes are touched: the
// backslash of an escaped backslash ("\\u003c") is skipped with the
// character it escapes.
func unescapeHTML(b []byte) []byte {
	out := b[:0]
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'u' && i+5 < len(b) {
			switch strings.ToLower(string(b[i+2 : i+6])) {
			case "003c":
				out = append(out, '<')
				i += 5
				continue
			case "003e":
				out = append(out, '>')
				i += 5
				continue
			case "0026":
				out = append(out, '&')
				i += 5
				continue
			}
		}
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}

// record remembers what a read returned, for the watcher, and takes care of
// its lease.
func (b *Backend) record(key sources.GroupKey, g *group, logical string, s *response) {
	var l *lease
	if s.LeaseID != "" {
		l = b.newLease(key, logical, s)
		g.lease = l
	}
	b.mu.Lock()
	old := b.groups[key]
	b.groups[key] = g
	if old != nil && old.metaDenied {
		g.metaDenied = true
	}
	if l != nil {
		// Keep the leases that may still be alive, for --revoke-on-exit.
		live := b.leases[:0]
		for _, x := range b.leases {
			if !x.expired() {
				live = append(live, x)
			}
		}
		b.leases = append(live, l)
	}
	b.mu.Unlock()
	// The previous lease of this group belonged to the child being
	// replaced: stop renewing it (it lives out its current TTL and is
	// revoked at exit with --revoke-on-exit).
	if old != nil && old.lease != nil {
		old.lease.stop()
	}
	if l != nil {
		// Refused once the backend is closed: the lease is only revoked.
		b.routines.Go(l.ctx, func(context.Context) { b.keepLease(l) })
	}
}

func (b *Backend) group(key sources.GroupKey) (group, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	g, ok := b.groups[key]
	if !ok {
		return group{}, false
	}
	return *g, true
}

func (b *Backend) notifyKey(key sources.GroupKey) {
	b.mu.Lock()
	notify := b.notify
	b.mu.Unlock()
	if notify != nil {
		notify(key)
	}
}

// start creates the client and obtains a token, once.
func (b *Backend) start(ctx context.Context) error {
	if b.setErr != nil {
		return b.setErr
	}
	b.initOnce.Do(func() {
		b.used.Store(true)
		b.client, b.initErr = b.newClient()
	})
	if b.initErr != nil {
		return b.initErr
	}
	return b.ensureToken(ctx)
}

// newClient configures the client from the VAULT_* variables, with hush's
// per-request timeout (HUSH_VAULT_REQUEST_TIMEOUT, else VAULT_CLIENT_TIMEOUT,
// else 10s).
func (b *Backend) newClient() (*client, error) {
	return newClient(b.cfg.Getenv, b.set.requestTimeout, b.set.requestTimeoutSet)
}

// retryMode says how hard call tries.
type retryMode int

const (
	untilDeadline retryMode = iota // start-up and rotation reads: until ctx's deadline
	fewTimes                       // background calls (a login after the max TTL): VAULT_MAX_RETRIES
	once                           // polls: their loop backs off instead, so an outage is quiet
)

// call runs one Vault request. A 403 first checks that hush's token is
// still good (and logs in again if it is not), once. Transient failures
// (network, 5xx except 501, 429, 412) are retried with remote's back-off
// as mode says. They are logged once per outage, not once per attempt.
func (b *Backend) call(ctx context.Context, op, path string, mode retryMode, f func(context.Context) (*response, error)) (*response, error) {
	persist := mode == untilDeadline
	retries := b.client.maxRetries
	if mode == once {
		retries = 0
	}
	reauthed := false
	var (
		out  *response
		last *requestError // the last failure with a real cause
	)
	policy := remote.RetryPolicy{
		Persist: persist,
		Retries: retries,
		Backoff: remote.Requests,
		Failed: func(int, error, time.Duration) {
			b.down.failed(b.log, b.address(), last, persist)
		},
	}
	err := remote.Retry(ctx, policy, func(ctx context.Context) remote.Attempt {
		for {
			gen := b.auth.generation()
			s, err := f(ctx)
			if err == nil {
				b.down.recovered(b.log, b.address())
				out = s
				return remote.Attempt{}
			}
			e := describe(op, path, err)
			if ctx.Err() != nil && last != nil {
				e = last // "no answer before the deadline" says less than the cause
			}
			if e.status == 403 && !reauthed && op != "log in" && b.set.method.canLogin() {
				reauthed = true
				if b.refreshToken(ctx, gen) {
					continue
				}
			}
			if (e.status == 403 || e.cause == "no Vault token") && b.set.method == authNone {
				return remote.Attempt{Err: fmt.Errorf("%w: no Vault credentials configured (set VAULT_TOKEN, %s, %s+%s or %s)",
					e, EnvTokenFile, EnvRoleID, EnvSecretIDFile, EnvK8sRole)}
			}
			if !e.transient() || ctx.Err() != nil {
				return remote.Attempt{Err: b.withAddress(e)}
			}
			last = e
			if mode == once {
				b.down.failed(b.log, b.address(), e, false)
			}
			return remote.Attempt{Err: b.withAddress(e), Retry: true, Wait: e.wait}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (b *Backend) rand() float64 {
	if b.random != nil {
		return b.random()
	}
	return rand.Float64()
}

func (b *Backend) pause(ctx context.Context, d time.Duration) bool {
	if b.sleep != nil {
		return b.sleep(ctx, d)
	}
	return remote.Sleep(ctx, d)
}

func (b *Backend) address() string {
	if b.client == nil {
		return ""
	}
	return b.client.address()
}

func (b *Backend) withAddress(e *requestError) error {
	if e.status == 0 || e.transient() {
		return fmt.Errorf("Vault at %s: %w", b.address(), e)
	}
	return e
}

// outage logs a Vault that cannot be reached once when it starts and once
// when it ends, not at every retry.
type outage struct {
	mu    sync.Mutex
	down  bool
	since time.Time
}

func (o *outage) failed(log *slog.Logger, addr string, e *requestError, startup bool) {
	o.mu.Lock()
	first := !o.down
	if first {
		o.down, o.since = true, time.Now()
	}
	o.mu.Unlock()
	if !first {
		log.Debug("Vault still not reachable", "addr", addr, "err", e.Error())
		return
	}
	if startup {
		log.Warn("Vault not reachable; retrying until the deadline", "addr", addr, "err", e.Error())
	} else {
		log.Warn("Vault not reachable; the child keeps its current secrets and hush keeps trying", "addr", addr, "err", e.Error())
	}
}

func (o *outage) recovered(log *slog.Logger, addr string) {
	o.mu.Lock()
	was, since := o.down, o.since
	o.down = false
	o.mu.Unlock()
	if was {
		log.Info("Vault reachable again", "addr", addr, "after", time.Since(since).Round(time.Millisecond))
	}
}

// Close implements sources.Closer: it stops renewals and polls, waits for
// them to end and, with --revoke-on-exit, then revokes the leases hush took
// and the token it logged in with.
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	// Joined before revoking: no renewal may run against what is revoked.
	errs := []error{b.routines.Stop(ctx)}
	b.mu.Lock()
	leases := b.leases
	b.mu.Unlock()
	if b.client == nil || !b.cfg.RevokeOnExit {
		return errors.Join(errs...)
	}
	revoked := 0
	if tok := b.token(); b.set.method.ownsToken() && tok != "" {
		// hush's own token: revoking it revokes every lease it took (those
		// of earlier tokens died with them).
		if _, err := b.client.write(ctx, "auth/token/revoke-self", nil, tok); err != nil {
			errs = append(errs, describe("revoke hush's token", "auth/token/revoke-self", err))
		}
		revoked = len(leases)
	} else {
		for _, l := range leases {
			if l.expired() {
				continue
			}
			if _, err := b.client.write(ctx, "sys/leases/revoke", map[string]any{"lease_id": l.id}, tok); err != nil {
				errs = append(errs, describe("revoke the lease of", l.path, err))
				continue
			}
			revoked++
		}
	}
	b.log.Debug("revoked Vault leases at exit", "leases", revoked)
	return errors.Join(errs...)
}
