package vault

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hushinit/hush/sources"

	"github.com/hushinit/hush/sources/internal/remote"
)

// Watch implements sources.Watcher. It puts the watch in place without a
// request: leases report themselves when they end (see keepLease), and
// every poll interval (HUSH_VAULT_POLL_INTERVAL, else --poll-interval) hush
// checks each secret it read that has neither a lease nor a pinned version:
//
//   - KV v2: GET MOUNT/metadata/PATH, whose current version (and its
//     creation time) is compared with the version read; no value crosses the
//     wire. A token without read on metadata falls back to the data read,
//     comparing its version the same way.
//   - KV v1 and other engines: the secret is read and its digest compared.
//
// One request per secret and poll, never retried within the poll. A failed
// poll (Vault down) changes nothing for the child; the next one waits
// longer (remote.NextPoll), and each instance polls at its own random phase.
func (b *Backend) Watch(ctx context.Context, keys []sources.GroupKey, opts sources.WatchOptions, notify func(sources.GroupKey)) error {
	if b.setErr != nil {
		return b.setErr
	}
	b.mu.Lock()
	b.notify = notify
	b.mu.Unlock()
	interval := opts.PollInterval
	if b.set.pollInterval > 0 {
		interval = b.set.pollInterval
	}
	if interval > 0 && !b.routines.Go(ctx, func(ctx context.Context) { b.pollLoop(ctx, keys, interval) }) {
		return errors.New("the Vault backend is closed")
	}
	return nil
}

func (b *Backend) pollLoop(ctx context.Context, keys []sources.GroupKey, interval time.Duration) {
	// The first poll comes at a random point of the first interval and
	// later ones keep that phase (remote.NextPoll): a fleet started
	// together does not poll Vault in one burst forever. After a failed
	// poll the next waits longer (no per-request retries meanwhile).
	wait := remote.FirstPoll(interval, b.rand)
	failures := 0
	for {
		if !b.pause(ctx, wait) {
			return
		}
		pending, ok := false, true
		for _, k := range keys {
			g, found := b.group(k)
			if !found {
				pending = true // not read yet (or its read failed)
				continue
			}
			if g.lease != nil || g.pinned {
				continue
			}
			pending = true
			if !b.poll(ctx, k, g) {
				ok = false
			}
		}
		if !pending {
			// Only leases and pinned versions: nothing to poll, ever.
			b.log.Debug("Vault watch: nothing to poll; leases report their own end")
			return
		}
		if ok {
			failures = 0
		} else if ctx.Err() == nil {
			failures++
		}
		wait = remote.NextPoll(interval, failures, b.rand)
	}
}

// poll checks one secret and reports it when it may have changed. It
// reports whether Vault answered.
func (b *Backend) poll(ctx context.Context, key sources.GroupKey, g group) bool {
	if err := b.start(ctx); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, defaultCallTimeout)
	defer cancel()
	changed, err := b.changed(ctx, key, g)
	if err != nil {
		var re *requestError
		if errors.As(err, &re) && re.transient() {
			return false // logged by call, once per outage
		}
		b.log.Warn("cannot check a Vault secret for changes", "path", key.Path, "err", err.Error())
		return false
	}
	if changed {
		b.log.Debug("Vault secret changed", "path", key.Path)
		b.notifyKey(key)
	}
	return true
}

func (b *Backend) changed(ctx context.Context, key sources.GroupKey, g group) (bool, error) {
	if g.kind != kindKV2 {
		s, err := b.call(ctx, "poll", g.apiPath, once, func(ctx context.Context) (*response, error) {
			return b.client.read(ctx, g.apiPath, nil, b.token())
		})
		if err != nil {
			return false, err
		}
		if s == nil {
			return true, nil // gone: the re-read reports it
		}
		doc, err := encodeDoc(s.Data)
		if err != nil {
			return false, err
		}
		return sha256.Sum256(doc) != g.digest, nil
	}
	if !g.metaDenied {
		p := kvPath(g.mount, g.logical, "metadata")
		s, err := b.call(ctx, "poll", p, once, func(ctx context.Context) (*response, error) {
			return b.client.read(ctx, p, nil, b.token())
		})
		var re *requestError
		switch {
		case err == nil:
			return metadataMarker(s) != g.marker, nil
		case errors.As(err, &re) && re.status == 403:
			b.log.Debug("hush's token may not read KV metadata; polling the data instead", "path", key.Path)
			b.mu.Lock()
			if cur, ok := b.groups[key]; ok {
				cur.metaDenied = true
			}
			b.mu.Unlock()
		default:
			return false, err
		}
	}
	s, err := b.call(ctx, "poll", g.apiPath, once, func(ctx context.Context) (*response, error) {
		return b.client.read(ctx, g.apiPath, nil, b.token())
	})
	if err != nil {
		return false, err
	}
	if s == nil {
		return g.marker != "", nil
	}
	meta, _ := s.Data.fields()["metadata"].(map[string]any)
	return markerOf(meta["version"], meta["created_time"]) != g.marker, nil
}

// metadataMarker is the marker of the current version from a KV v2 metadata
// answer: current_version and that version's created_time.
func metadataMarker(s *response) string {
	if s == nil {
		return ""
	}
	data := s.Data.fields()
	if data == nil {
		return ""
	}
	cur := data["current_version"]
	var created any
	if versions, ok := data["versions"].(map[string]any); ok {
		if v, ok := versions[fmt.Sprint(cur)].(map[string]any); ok {
			created = v["created_time"]
		}
	}
	if n, ok := cur.(json.Number); ok {
		cur = n.String()
	}
	return markerOf(cur, created)
}
