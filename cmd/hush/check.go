package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/hushinit/hush/plan"
	"github.com/hushinit/hush/shim"
)

// runCheck resolves every reference and prints plan.Check's table: exit 0
// when every reference resolved, 125 (with one error line per failed
// variable) when not.
func runCheck(ctx context.Context, opts options, environ []string, getenv func(string) string, stdout io.Writer, log *slog.Logger) int {
	var key []byte
	if opts.digestKeyFile != "" {
		b, err := plan.ReadDigestKey(opts.digestKeyFile)
		if err != nil {
			log.Error("check failed", "err", fmt.Sprintf("--digest-key-file: %v", err))
			return shim.ExitHushFailed
		}
		key = b
	}
	p, err := newPlan(opts, environ, nil, getenv, nil, log)
	if err != nil {
		logError(log, "check failed", err)
		return shim.ExitHushFailed
	}
	defer p.Close()
	if err := p.Check(ctx, stdout, key); err != nil {
		logError(log, "check failed", err)
		return shim.ExitHushFailed
	}
	return 0
}
