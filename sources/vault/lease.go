package vault

import (
	"context"
	"sync"
	"time"

	"github.com/hushinit/hush/sources"

	"github.com/hushinit/hush/sources/internal/remote"
)

// lifetime is a token or a lease that renewUntilEnd keeps alive.
type lifetime struct {
	token     string // a token, renewed with auth/token/renew-self; or
	leaseID   string // a lease, renewed with sys/leases/renew
	ttl       time.Duration
	renewable bool
	increment int // seconds asked for at each renewal (0: the default)
}

// lease is one dynamic secret's lease, renewed while its group's values are
// the child's.
type lease struct {
	id     string // never logged: the path says which secret it is
	path   string
	key    sources.GroupKey
	life   lifetime
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	expires time.Time
}

func (b *Backend) newLease(key sources.GroupKey, logical string, s *response) *lease {
	ctx, cancel := context.WithCancel(b.ctx)
	ttl := time.Duration(s.LeaseDuration) * time.Second
	return &lease{
		id: s.LeaseID, path: logical, key: key, ctx: ctx, cancel: cancel,
		life:    lifetime{leaseID: s.LeaseID, ttl: ttl, renewable: s.Renewable, increment: s.LeaseDuration},
		expires: time.Now().Add(ttl),
	}
}

func (l *lease) stop() { l.cancel() }

func (l *lease) expired() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Now().After(l.expires)
}

// keepLease renews l until Vault stops extending it, then reports its
// group: the re-read takes a new lease and the child gets the new values.
func (b *Backend) keepLease(l *lease) {
	end := b.renewUntilEnd(l.ctx, l.life, "the lease of "+l.path, func(ttl time.Duration) {
		l.mu.Lock()
		l.expires = time.Now().Add(ttl)
		l.mu.Unlock()
	})
	if end == endStopped {
		return
	}
	b.log.Info("a Vault lease ends; reading the secret again", "path", l.path, "reason", "the lease "+string(end))
	b.notifyKey(l.key)
}

// endReason says why a token or lease can no longer be kept alive.
type endReason string

const (
	endStopped      endReason = ""
	endMaxTTL       endReason = "reached its max TTL"
	endNotRenewable endReason = "is not renewable and expires"
	endRejected     endReason = "was refused renewal (revoked?)"
	endExpired      endReason = "expired while Vault could not be reached"
)

// renewUntilEnd keeps a token or a lease alive and returns when it cannot
// be extended any more, saying why; the caller then logs in again or reads
// the secret again. The schedule is vault/api's LifetimeWatcher's: renew
// after two thirds of the TTL plus a third of a grace period (a random 10 to
// 20% of the TTL), and stop once a renewal no longer extends the TTL past
// the grace period (the max TTL is near). Unlike the LifetimeWatcher it
// does not renew at once when it starts (what was just issued needs no
// renewal), it retries transient failures (Vault down) with backoff for as
// long as the token or lease is valid, and a refusal (revoked, not found)
// ends it at once; "permission denied" means the token may not renew, which
// ends it shortly before it expires.
func (b *Backend) renewUntilEnd(ctx context.Context, lt lifetime, what string, renewed func(time.Duration)) endReason {
	ttl := lt.ttl
	expires := time.Now().Add(ttl)
	grace := graceOf(ttl)
	untilExpiry := func(r endReason) endReason {
		if !remote.Sleep(ctx, time.Until(expires)-grace) {
			return endStopped
		}
		return r
	}
	if !lt.renewable || ttl <= 0 {
		return untilExpiry(endNotRenewable)
	}
	wait := sleepBeforeRenewal(ttl, grace)
	if ttl <= grace || ttl-wait <= grace {
		return endMaxTTL
	}
	for attempt := 0; ; {
		if !remote.Sleep(ctx, wait) {
			return endStopped
		}
		newTTL, renewable, err := b.renew(ctx, lt)
		if err != nil {
			if ctx.Err() != nil {
				return endStopped
			}
			e := describe("renew", what, err)
			switch {
			case e.status == 403:
				return untilExpiry(endNotRenewable)
			case !e.transient():
				b.log.Debug("renewal refused", "what", what, "err", e.Error())
				return endRejected
			}
			b.down.failed(b.log, b.address(), e, false)
			left := time.Until(expires)
			if left <= grace {
				return endExpired
			}
			wait = min(max(remote.Requests.Delay(attempt), e.wait), (left-grace)/2)
			attempt++
			continue
		}
		attempt = 0
		b.down.recovered(b.log, b.address())
		b.log.Debug("renewed "+what, "ttl", newTTL)
		if renewed != nil {
			renewed(newTTL)
		}
		expires = time.Now().Add(newTTL)
		if newTTL > ttl {
			grace = graceOf(newTTL) // still extending: the max TTL is not near
		}
		ttl = newTTL
		if !renewable {
			return untilExpiry(endNotRenewable)
		}
		wait = sleepBeforeRenewal(ttl, grace)
		if ttl <= grace || ttl-wait <= grace {
			return endMaxTTL
		}
	}
}

// graceOf is a random 10 to 20% of ttl: what is left when hush stops
// renewing, for the new login or the new read. Its randomness (the
// toolkit's Spread, as for every periodic remote action) also spreads the
// renewals of a fleet.
func graceOf(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return min(max(remote.Spread(ttl*15/100, 1.0/3, nil), ttl/10), ttl/5)
}

func sleepBeforeRenewal(ttl, grace time.Duration) time.Duration {
	return ttl*2/3 + grace/3
}

// renew renews a token or a lease once and returns its new TTL.
func (b *Backend) renew(ctx context.Context, lt lifetime) (time.Duration, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, defaultCallTimeout)
	defer cancel()
	if lt.token != "" {
		s, err := b.client.write(ctx, "auth/token/renew-self", map[string]any{"increment": lt.increment}, lt.token)
		if err != nil {
			return 0, false, err
		}
		if s == nil || s.Auth == nil {
			return 0, false, &statusError{status: 500}
		}
		return time.Duration(s.Auth.LeaseDuration) * time.Second, s.Auth.Renewable, nil
	}
	s, err := b.client.write(ctx, "sys/leases/renew", map[string]any{"lease_id": lt.leaseID, "increment": lt.increment}, b.token())
	if err != nil {
		return 0, false, err
	}
	if s == nil {
		return 0, false, &statusError{status: 500}
	}
	return time.Duration(s.LeaseDuration) * time.Second, s.Renewable, nil
}
