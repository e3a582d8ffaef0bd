// Package infisical is the Infisical backend. A reference names one secret
// key in vals' form,
//
//	ref+infisical://KEY?project_id=ID&environment=ENV&path=/folder
//
// (project= takes a slug instead of an ID; INFISICAL_PROJECT_ID and
// INFISICAL_ENVIRONMENT fill in what a reference leaves out; path defaults
// to "/"). A #/json/pointer fragment selects from a JSON value.
//
// # One list call per folder
//
// hush's resolver reads once per group (backend, path, query), and here the
// path is the key, so that a reference means what it means in vals. The
// backend therefore shares reads below the resolver: every reference to a
// key of the same folder (project, environment, path, list options) is
// served by one GET /api/v3/secrets/raw. Concurrent reads of a folder join
// the call in flight and later ones reuse its listing, so the start-up reads
// cost one call per folder. Once a folder is polled, each poll makes one
// call (with If-None-Match when the server gave an ETag) and keeps the
// listing; the rotation re-reads that follow a poll which saw a change use
// that listing and cost no call of their own.
//
// Construction reads nothing and touches no network; the environment is
// parsed and Infisical contacted on the first Read or poll.
package infisical

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/internal/background"
)

// Name is the backend name in references.
const Name = "infisical"

// Config is what the backend needs from hush.
type Config struct {
	// Getenv reads hush's own environment (credentials, site URL,
	// defaults).
	Getenv func(string) string
	// PollInterval is hush's --poll-interval; HUSH_INFISICAL_POLL_INTERVAL
	// overrides it for this backend.
	PollInterval time.Duration
	// RevokeOnExit (--revoke-on-exit) makes Close revoke the access token
	// hush obtained by logging in.
	RevokeOnExit bool
	Logger       *slog.Logger
}

var _ sources.Watcher = (*Backend)(nil)

// Backend reads secrets from Infisical. It is safe for concurrent use.
type Backend struct {
	getenv  func(string) string
	log     *slog.Logger
	poll    time.Duration
	pollErr error // a bad HUSH_INFISICAL_POLL_INTERVAL, reported on first use
	revoke  bool

	initMu  sync.Mutex
	c       *client
	keepCtx context.Context // the watch's: the token is kept alive while it lasts
	// routines are the polls and the token's keep-alive; Close ends them.
	routines background.Group

	foldersMu sync.Mutex
	folders   map[folder]*folderState
}

// folderState is the last listing of a folder and the list call in flight.
type folderState struct {
	mu      sync.Mutex
	cur     *listing
	flight  *flight
	watched bool // polled: the last listing is as fresh as the last poll
}

type flight struct {
	done chan struct{}
	res  *listing
	err  error
}

// New returns the backend. It only records cfg.
func New(cfg Config) *Backend {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	poll, err := pollInterval(getenv, cfg.PollInterval)
	return &Backend{getenv: getenv, log: log, poll: poll, pollErr: err, revoke: cfg.RevokeOnExit, folders: map[folder]*folderState{}}
}

// ValidQuery implements sources.QueryValidator: unknown or repeated
// parameters, a bad version or type, and a project or environment that
// neither the reference nor the environment gives are errors before
// anything is read.
func (b *Backend) ValidQuery(q url.Values) error {
	if b.pollErr != nil {
		return b.pollErr
	}
	_, err := parseTarget("KEY", q, b.getenv)
	return err
}

// Read returns the value of one secret key. A key the folder does not hold
// (or a folder, environment or project that does not exist) wraps
// sources.ErrNotFound.
func (b *Backend) Read(ctx context.Context, key string, q url.Values) (sources.Secret, error) {
	if b.pollErr != nil {
		return sources.Secret{}, b.pollErr
	}
	t, err := parseTarget(key, q, b.getenv)
	if err != nil {
		return sources.Secret{}, err
	}
	c, err := b.client()
	if err != nil {
		return sources.Secret{}, err
	}
	var v string
	if t.Version > 0 {
		if v, err = c.retrieve(ctx, t, readAttempts); err != nil {
			return sources.Secret{}, err
		}
	} else {
		l, err := b.listing(ctx, c, t.Folder, false)
		if err != nil {
			return sources.Secret{}, err
		}
		var ok bool
		if v, ok, err = l.lookup(t.Key, t.Folder); err != nil {
			return sources.Secret{}, err
		} else if !ok {
			return sources.Secret{}, sources.NotFound(fmt.Errorf("no secret %s in %s", t.Key, t.Folder))
		}
	}
	if len(v) > sources.MaxSecretSize {
		return sources.Secret{}, fmt.Errorf("secret %s is larger than the %d-byte limit", t.Key, sources.MaxSecretSize)
	}
	return sources.NewSecret([]byte(v)), nil
}

// client parses the environment and builds the client on first use.
func (b *Backend) client() (*client, error) {
	b.initMu.Lock()
	defer b.initMu.Unlock()
	if b.c != nil {
		return b.c, nil
	}
	s, err := loadSettings(b.getenv)
	if err != nil {
		return nil, err
	}
	b.c = newClient(s, b.log, &b.routines)
	if b.keepCtx != nil {
		b.c.startKeepAlive(b.keepCtx)
	}
	return b.c, nil
}

func (b *Backend) existingClient() *client {
	b.initMu.Lock()
	defer b.initMu.Unlock()
	return b.c
}

func (b *Backend) folderState(f folder) *folderState {
	b.foldersMu.Lock()
	defer b.foldersMu.Unlock()
	fs, ok := b.folders[f]
	if !ok {
		fs = &folderState{}
		b.folders[f] = fs
	}
	return fs
}

// listing returns f's secrets. A read takes the last listing when f is
// polled (reads then only follow a poll's notice, and that poll's listing,
// or a later one, is the last) or while it is younger than shareWindow; a
// poll always calls, sending the last ETag. Either joins a call already in
// flight for f instead of making another. Failures are not kept: the next
// read or poll calls again.
func (b *Backend) listing(ctx context.Context, c *client, f folder, poll bool) (*listing, error) {
	fs := b.folderState(f)
	for {
		fs.mu.Lock()
		if !poll && fs.cur != nil && (fs.watched || time.Since(fs.cur.at) < b.shareWindow()) {
			l := fs.cur
			fs.mu.Unlock()
			return l, nil
		}
		if fl := fs.flight; fl != nil {
			fs.mu.Unlock()
			select {
			case <-fl.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("listing secrets (%s): %w", f, ctx.Err())
			}
			if fl.err != nil && isContextError(fl.err) && ctx.Err() == nil {
				continue // the caller that made the call gave up; we have not
			}
			return fl.res, fl.err
		}
		fl := &flight{done: make(chan struct{})}
		fs.flight = fl
		prev := fs.cur
		etag := ""
		if poll && prev != nil {
			etag = prev.etag
		}
		fs.mu.Unlock()

		attempts := readAttempts
		if poll {
			attempts = 1
		}
		res, err := c.list(ctx, f, etag, attempts)
		if errors.Is(err, errNotModified) {
			res, err = &listing{values: prev.values, hidden: prev.hidden, etag: prev.etag, at: time.Now()}, nil
		}
		fs.mu.Lock()
		if err == nil {
			fs.cur = res
		}
		fs.flight = nil
		fl.res, fl.err = res, err
		close(fl.done)
		fs.mu.Unlock()
		return res, err
	}
}

// shareWindow is how long a listing serves reads of a folder that is not
// polled: enough for the reads of one start-up (the resolver runs a bounded
// number at a time) to share one call.
func (b *Backend) shareWindow() time.Duration {
	if b.poll <= 0 {
		return time.Minute
	}
	return 2 * b.poll
}

// watch marks f as polled.
func (b *Backend) watch(f folder) {
	fs := b.folderState(f)
	fs.mu.Lock()
	fs.watched = true
	fs.mu.Unlock()
}

// last returns f's last listing, nil if it was never listed.
func (b *Backend) last(f folder) *listing {
	fs := b.folderState(f)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.cur
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// UsedCredentials implements sources.CredentialUser: the variables hush
// logged in with (INFISICAL_TOKEN, the universal auth client ID and secret or
// their _FILE forms, the Kubernetes identity ID and token path variable),
// nothing if Infisical was never called.
func (b *Backend) UsedCredentials() []string {
	if c := b.existingClient(); c != nil {
		return c.usedCredentials()
	}
	return nil
}

// Close implements sources.Closer. It ends the polls and the token's
// keep-alive and waits for them; then, with RevokeOnExit, it revokes the
// access token hush obtained by logging in, so that it does not outlive the
// container. A token the user supplied is never revoked.
func (b *Backend) Close(ctx context.Context) error {
	if err := b.routines.Stop(ctx); err != nil {
		return err
	}
	c := b.existingClient()
	if c == nil || !b.revoke {
		return nil
	}
	return c.revoke(ctx)
}
