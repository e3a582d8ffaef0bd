package sources_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/hushinit/hush/sources"
)

// memBackend serves documents from a map and counts reads per path.
type memBackend struct {
	docs map[string]string

	mu    sync.Mutex
	reads map[string]int
}

func newMem(docs map[string]string) *memBackend {
	return &memBackend{docs: docs, reads: map[string]int{}}
}

func (b *memBackend) Read(_ context.Context, path string, q url.Values) (sources.Secret, error) {
	b.mu.Lock()
	b.reads[path+"?"+q.Encode()]++
	b.mu.Unlock()
	doc, ok := b.docs[path]
	if !ok {
		return sources.Secret{}, sources.NotFound(fmt.Errorf("no secret at %q", path))
	}
	return sources.NewSecret([]byte(doc)), nil
}

// ValidQuery accepts "version", as a Vault-like backend would.
func (b *memBackend) ValidQuery(q url.Values) error {
	for k := range q {
		if k != "version" {
			return fmt.Errorf("unknown query parameter %q", k)
		}
	}
	return nil
}

func (b *memBackend) totalReads() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.reads {
		n += c
	}
	return n
}

// gateBackend blocks every read until release is closed, ignoring ctx
// unless honourCtx is set, and records the largest number of reads in
// flight at once.
type gateBackend struct {
	release   chan struct{}
	honourCtx bool
	inflight  atomic.Int64
	max       atomic.Int64
	started   atomic.Int64
}

func newGate() *gateBackend { return &gateBackend{release: make(chan struct{})} }

func (b *gateBackend) Read(ctx context.Context, path string, _ url.Values) (sources.Secret, error) {
	b.started.Add(1)
	n := b.inflight.Add(1)
	defer b.inflight.Add(-1)
	for {
		m := b.max.Load()
		if n <= m || b.max.CompareAndSwap(m, n) {
			break
		}
	}
	if b.honourCtx {
		select {
		case <-b.release:
		case <-ctx.Done():
			return sources.Secret{}, ctx.Err()
		}
	} else {
		<-b.release
	}
	return sources.NewSecret([]byte("value of " + path)), nil
}

// errBackend fails every read with err.
type errBackend struct{ err error }

func (b errBackend) Read(context.Context, string, url.Values) (sources.Secret, error) {
	return sources.Secret{}, b.err
}
