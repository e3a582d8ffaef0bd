package remote

import (
	"context"
	"fmt"
)

// Gate lets one holder in at a time and is waited for with a context: the
// reads that start together share one login instead of making one each,
// and a caller whose deadline passes stops waiting.
type Gate struct{ c chan struct{} }

// NewGate returns an open gate.
func NewGate() *Gate { return &Gate{c: make(chan struct{}, 1)} }

// Enter waits for the gate; what names the work for the error.
func (g *Gate) Enter(ctx context.Context, what string) error {
	select {
	case g.c <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
	}
}

// Leave lets the next caller in.
func (g *Gate) Leave() { <-g.c }
