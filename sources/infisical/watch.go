package infisical

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/url"
	"sort"
	"time"

	"github.com/hushinit/hush/sources"

	"github.com/hushinit/hush/sources/internal/remote"
)

// watched is one group of a folder: the group to notify and the key it
// reads.
type watched struct {
	group sources.GroupKey
	key   string
}

// keyState is what a poll compares for one key: its value's SHA-256, its
// absence, or its value being hidden from hush (a change of permissions,
// which the re-read then reports).
type keyState struct {
	sum     [32]byte
	present bool
	hidden  bool
}

// Watch implements sources.Watcher by polling: every poll interval
// (HUSH_INFISICAL_POLL_INTERVAL, else --poll-interval) it lists each watched
// folder once — with If-None-Match when the server gave an ETag — and
// notifies the groups whose key's value changed, appeared or disappeared.
// References pinned to a version never change and are not polled.
//
// A failed poll (server down, stalled, refusing) is logged and the next one
// waits longer: the interval doubled per failure, up to ten intervals and at
// most five minutes. The child keeps its secrets meanwhile; hush never acts
// on a failure.
func (b *Backend) Watch(ctx context.Context, keys []sources.GroupKey, opts sources.WatchOptions, notify func(sources.GroupKey)) error {
	if b.pollErr != nil {
		return b.pollErr
	}
	interval := b.poll
	if b.getenv(envPollInterval) == "" {
		interval = opts.PollInterval
	}
	if interval <= 0 {
		return nil
	}
	byFolder := map[folder][]watched{}
	for _, k := range keys {
		q, err := url.ParseQuery(k.Query)
		if err != nil {
			continue
		}
		t, err := parseTarget(k.Path, q, b.getenv)
		if err != nil || t.Version > 0 {
			continue // a bad reference fails its read; a pinned version is immutable
		}
		byFolder[t.Folder] = append(byFolder[t.Folder], watched{group: k, key: t.Key})
	}
	if len(byFolder) == 0 {
		return nil
	}
	p := &poller{b: b, interval: interval, folders: byFolder, notify: notify, seen: map[folder]map[string]keyState{}}
	for f := range byFolder {
		p.order = append(p.order, f)
		b.watch(f)
	}
	sort.Slice(p.order, func(i, j int) bool { return p.order[i].String() < p.order[j].String() })
	if !b.routines.Go(ctx, p.loop) {
		return errors.New("the Infisical backend is closed")
	}
	// The token is renewed on its own schedule, not when a poll happens
	// to need it: a poll interval longer than the token's lifetime, or a
	// late poll, must not cost a new login.
	b.initMu.Lock()
	b.keepCtx = ctx
	c := b.c
	b.initMu.Unlock()
	if c != nil {
		c.startKeepAlive(ctx)
	}
	return nil
}

type poller struct {
	b        *Backend
	interval time.Duration
	folders  map[folder][]watched
	order    []folder
	notify   func(sources.GroupKey)
	rand     func() float64 // jitter; nil: math/rand
	// seen is what the last poll found per folder. It is the poller's own:
	// a read that refreshes a listing must not move it, or a change that
	// read saw would never be notified for the folder's other groups.
	seen map[folder]map[string]keyState
}

func (p *poller) loop(ctx context.Context) {
	failures := 0
	// The first poll comes at a random point of the first interval and
	// later ones keep that phase (remote.NextPoll): a fleet started
	// together does not poll in step.
	t := time.NewTimer(remote.FirstPoll(p.interval, p.rand))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p.pollAll(ctx) {
			if failures > 0 {
				p.b.log.Info("Infisical answers again; polling every interval", "interval", p.interval)
			}
			failures = 0
		} else if ctx.Err() == nil {
			failures++
		}
		t.Reset(p.delay(failures))
	}
}

// delay is the wait before the next poll after failures failed ones: the
// toolkit's, the same as Vault's (the interval after a success; after a
// failure doubled per failure, up to ten intervals and at most five
// minutes, jittered).
func (p *poller) delay(failures int) time.Duration {
	return remote.NextPoll(p.interval, failures, p.rand)
}

// pollAll polls every folder, one after the other, and reports whether all
// polls succeeded.
func (p *poller) pollAll(ctx context.Context) bool {
	c, err := p.b.client()
	if err != nil {
		p.b.log.Warn("cannot poll Infisical; the child keeps its current secrets", "err", err.Error())
		return false
	}
	ok := true
	for _, f := range p.order {
		if ctx.Err() != nil {
			return false
		}
		if !p.pollFolder(ctx, c, f) {
			ok = false
		}
	}
	return ok
}

func (p *poller) pollFolder(ctx context.Context, c *client, f folder) bool {
	ws := p.folders[f]
	prev := p.b.last(f)
	l, err := p.b.listing(ctx, c, f, true)
	if err != nil {
		if ctx.Err() == nil {
			p.b.log.Warn("polling Infisical failed; the child keeps its current secrets",
				"folder", f.String(), "err", err.Error())
		}
		return false
	}
	now := states(l, ws)
	base, ok := p.seen[f]
	if !ok {
		if prev == nil {
			// Nothing was read before this poll (a slow start): this
			// listing is where comparisons start.
			p.seen[f] = now
			p.b.log.Debug("polled Infisical folder", "folder", f.String(), "changed", 0)
			return true
		}
		base = states(prev, ws)
	}
	changed := 0
	for _, w := range ws {
		if base[w.key] != now[w.key] {
			changed++
			p.notify(w.group)
		}
	}
	p.seen[f] = now
	p.b.log.Debug("polled Infisical folder", "folder", f.String(), "changed", changed)
	return true
}

func states(l *listing, ws []watched) map[string]keyState {
	out := make(map[string]keyState, len(ws))
	for _, w := range ws {
		if v, ok := l.values[w.key]; ok {
			out[w.key] = keyState{sum: sha256.Sum256([]byte(v)), present: true}
		} else if l.hidden[w.key] {
			out[w.key] = keyState{hidden: true}
		} else {
			out[w.key] = keyState{}
		}
	}
	return out
}
