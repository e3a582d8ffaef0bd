package remote

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff is the wait between two attempts of one call: Base doubling per
// attempt up to Max, spread by ±Jitter (a fraction) so that many instances
// that failed together do not retry together.
type Backoff struct {
	Base, Max time.Duration
	Jitter    float64
	// Rand returns a number in [0, 1); nil is math/rand/v2. Tests inject
	// their own.
	Rand func() float64
}

// Requests is the back-off between attempts of one request: 250ms
// doubling to 5s, ±20%.
var Requests = Backoff{Base: 250 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}

// Delay is the wait after attempt number attempt (0 for the first) failed.
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Base
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return Spread(d, b.Jitter, b.Rand)
}

// Spread returns d moved by up to ±frac of itself at random (rnd nil:
// math/rand/v2).
func Spread(d time.Duration, frac float64, rnd func() float64) time.Duration {
	if frac <= 0 || d <= 0 {
		return d
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	return time.Duration(float64(d) * (1 - frac + 2*frac*rnd()))
}

// Sleep waits d or until ctx ends, and reports whether the whole wait
// passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Attempt is one try of a call: err nil is success; retry says whether
// trying again may help (the network, a 5xx, a 429), wait a server's
// Retry-After.
type Attempt struct {
	Err   error
	Retry bool
	Wait  time.Duration
}

// RetryPolicy is how a call is retried: until ctx's deadline when Persist
// is set (start-up and rotation reads, which have one), else at most
// Retries more times (a poll: 0, its loop backs off instead).
type RetryPolicy struct {
	Persist bool
	Retries int
	Backoff Backoff
	// Failed is told about each failure that will be retried, with the
	// attempt's number (0 first) and the wait before the next: the caller
	// logs an outage once, not every attempt.
	Failed func(attempt int, err error, wait time.Duration)
}

// Retry runs call until it succeeds, fails for good, or the policy says to
// stop. It gives up a little before ctx's deadline rather than at it, so
// that the error is the real cause and not "context deadline exceeded".
func Retry(ctx context.Context, p RetryPolicy, call func(ctx context.Context) Attempt) error {
	for attempt := 0; ; attempt++ {
		a := call(ctx)
		if a.Err == nil {
			return nil
		}
		if !a.Retry || ctx.Err() != nil {
			return a.Err
		}
		if !p.Persist && attempt >= p.Retries {
			return a.Err
		}
		wait := max(p.Backoff.Delay(attempt), a.Wait)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait+100*time.Millisecond {
			return fmt.Errorf("%w (gave up at the deadline after %d attempts)", a.Err, attempt+1)
		}
		if p.Failed != nil {
			p.Failed(attempt, a.Err, wait)
		}
		if !Sleep(ctx, wait) {
			return fmt.Errorf("%w (gave up at the deadline after %d attempts)", a.Err, attempt+1)
		}
	}
}
