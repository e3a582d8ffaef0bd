// Package rotation turns "this source may have changed" notices from the
// backends' watchers into complete, validated sets of new values. It knows
// nothing about processes: package plan decides what a new set means for
// the child (restart, roll, signal, exit).
package rotation

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hushinit/hush/sources"
)

// Update is a new complete set of values after a change.
type Update struct {
	Values   []sources.Value // every request's value, in request order
	Changed  []string        // the variables whose value changed (names only)
	Detected time.Time       // when the first notice of this change arrived
}

// Controller watches every source referenced by Requests.
type Controller struct {
	Resolver       *sources.Resolver
	Requests       []sources.Request
	ResolveOptions sources.ResolveOptions
	Watch          sources.WatchOptions
	// Debounce merges the notices that arrive within this window of the
	// first one into one re-read and at most one Update.
	Debounce time.Duration
	// Splay adds a random delay in [0, Splay) before acting, so that a fleet
	// sharing a secret does not restart all at once.
	Splay time.Duration
	// ReadTimeout bounds one re-read; RetryInterval is how long a failed
	// re-read waits before it is tried again (a new notice retries sooner).
	ReadTimeout   time.Duration
	RetryInterval time.Duration
	Logger        *slog.Logger

	notices *noticeSet
}

// Start puts every watch in place. Call it before the first read, so that a
// change landing between that read and the watch is not missed: its notice
// waits for Run, which re-reads and compares. It reports whether anything is
// watched at all.
func (c *Controller) Start(ctx context.Context) (bool, error) {
	c.notices = newNoticeSet()
	n, err := c.startWatchers(ctx, c.notices.add)
	return n > 0, err
}

// Run acts on notices until ctx ends. current is the set the running child
// was started with. Run keeps that one set of values — it is needed to
// rebuild the environment when only some sources change, without re-reading
// (and, for dynamic secrets, re-leasing) the others — and compares SHA-256
// digests, never plaintext.
func (c *Controller) Run(ctx context.Context, current []sources.Value, updates chan<- Update) {
	log := c.logger()
	digests := digestsOf(current)
	var timer *time.Timer
	var timerC <-chan time.Time
	retrying := false
	arm := func(d time.Duration) {
		if timer != nil {
			timer.Stop()
		}
		timer = time.NewTimer(d)
		timerC = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.notices.ready:
			// A notice during a retry wait means the source moved again:
			// read it after one debounce window instead of waiting out
			// the retry interval.
			if timer == nil || retrying {
				arm(c.Debounce + c.splay())
				retrying = false
			}
		case <-timerC:
			timer, timerC = nil, nil
			keys, first := c.notices.take()
			if len(keys) == 0 {
				continue
			}
			// An empty value is an error here as at start-up (unless
			// ?allow_empty=true): an editor that truncates a file
			// before writing it must not restart the child with an
			// empty secret. The child keeps its value, and the write
			// that follows is a new notice.
			next, err := c.reread(ctx, current, keys)
			if err != nil {
				for _, e := range sources.Errors(err) {
					log.Warn("a secret changed but cannot be read; the child keeps its current secrets",
						"err", e.Error(), "retry_in", c.RetryInterval)
				}
				c.notices.putBack(keys, first)
				arm(c.RetryInterval)
				retrying = true
				continue
			}
			newDigests := digestsOf(next)
			changed := changedNames(c.Requests, digests, newDigests)
			if len(changed) == 0 {
				log.Debug("sources touched but no value changed")
				continue
			}
			current, digests = next, newDigests
			// The info line of a rotation is the supervisor's, which
			// says what it did; this one is for tracing.
			log.Debug("secrets changed", "changed", strings.Join(changed, ","))
			select {
			case updates <- Update{Values: next, Changed: changed, Detected: first}:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (c *Controller) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Controller) splay() time.Duration {
	if c.Splay <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(c.Splay)))
}

// startWatchers starts one watcher per backend that can watch, over the
// groups that backend serves. It returns how many were started.
func (c *Controller) startWatchers(ctx context.Context, notify func(sources.GroupKey)) (int, error) {
	byBackend := map[string][]sources.GroupKey{}
	opts := c.Watch
	opts.Vars = map[sources.GroupKey][]string{}
	for _, r := range c.Requests {
		for _, ref := range r.Refs() {
			k := ref.Group()
			if _, seen := opts.Vars[k]; !seen {
				byBackend[k.Backend] = append(byBackend[k.Backend], k)
			}
			if !slices.Contains(opts.Vars[k], r.Name) {
				opts.Vars[k] = append(opts.Vars[k], r.Name)
			}
		}
	}
	started := 0
	for name, keys := range byBackend {
		w, ok := c.Resolver.Backends[name].(sources.Watcher)
		if !ok {
			continue
		}
		if err := w.Watch(ctx, keys, opts, notify); err != nil {
			return started, fmt.Errorf("watch %s sources: %w", name, err)
		}
		started++
	}
	return started, nil
}

// reread reads the groups in keys again and returns the complete new set:
// the new values for those groups, the current ones for the rest.
func (c *Controller) reread(ctx context.Context, current []sources.Value, keys map[sources.GroupKey]bool) ([]sources.Value, error) {
	index := c.affected(keys)
	subset := make([]sources.Request, len(index))
	for j, i := range index {
		subset[j] = c.Requests[i]
	}
	ctx, cancel := context.WithTimeout(ctx, c.ReadTimeout)
	defer cancel()
	fresh, err := c.Resolver.Resolve(ctx, subset, c.ResolveOptions)
	if err != nil {
		return nil, err
	}
	next := make([]sources.Value, len(current))
	copy(next, current)
	for j, i := range index {
		next[i] = fresh[j]
	}
	return next, nil
}

// affected lists the requests to re-read for the changed groups in keys.
// A value with several references inside is re-rendered whole, which
// re-reads its other groups too; every other request on those groups is
// then re-read in the same call, so that one read still serves them all
// (a dynamic credential's username and the password inside a URL stay from
// one lease). keys grows to what is re-read.
func (c *Controller) affected(keys map[sources.GroupKey]bool) []int {
	in := make([]bool, len(c.Requests))
	for grew := true; grew; {
		grew = false
		for i, r := range c.Requests {
			if in[i] {
				continue
			}
			refs := r.Refs()
			if !slices.ContainsFunc(refs, func(ref sources.Ref) bool { return keys[ref.Group()] }) {
				continue
			}
			in[i], grew = true, true
			for _, ref := range refs {
				keys[ref.Group()] = true
			}
		}
	}
	var index []int
	for i, ok := range in {
		if ok {
			index = append(index, i)
		}
	}
	return index
}

type digest struct {
	sum     [32]byte
	missing bool
}

func digestsOf(values []sources.Value) []digest {
	out := make([]digest, len(values))
	for i, v := range values {
		if v.Missing {
			out[i] = digest{missing: true}
		} else {
			out[i] = digest{sum: v.Secret.Digest()}
		}
	}
	return out
}

func changedNames(reqs []sources.Request, old, new []digest) []string {
	var names []string
	for i := range reqs {
		if old[i] != new[i] {
			names = append(names, reqs[i].Name)
		}
	}
	return names
}

// noticeSet collects the groups reported changed by watchers, which call add
// from their own goroutines, until the controller takes them.
type noticeSet struct {
	mu    sync.Mutex
	keys  map[sources.GroupKey]bool
	first time.Time
	ready chan struct{} // one token: "something is waiting"
}

func newNoticeSet() *noticeSet {
	return &noticeSet{keys: map[sources.GroupKey]bool{}, ready: make(chan struct{}, 1)}
}

func (n *noticeSet) add(k sources.GroupKey) {
	n.mu.Lock()
	if len(n.keys) == 0 {
		n.first = time.Now()
	}
	n.keys[k] = true
	n.mu.Unlock()
	select {
	case n.ready <- struct{}{}:
	default:
	}
}

func (n *noticeSet) take() (map[sources.GroupKey]bool, time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	keys, first := n.keys, n.first
	n.keys = map[sources.GroupKey]bool{}
	return keys, first
}

// putBack returns keys whose re-read failed, so that the retry reads them.
func (n *noticeSet) putBack(keys map[sources.GroupKey]bool, first time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.keys) == 0 || first.Before(n.first) {
		n.first = first
	}
	for k := range keys {
		n.keys[k] = true
	}
}
