package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/hushinit/hush/shim"
)

// runCheck resolves every reference and prints plan.Check's table: exit 0
// when every reference resolved, 125 (with one error line per failed
// variable) when not.
func runCheck(ctx context.Context, opts options, environ []string, getenv func(string) string, stdout io.Writer, log *slog.Logger) int {
	var key []byte
	if opts.digestKeyFile != "" {
		b, err := readKey(opts.digestKeyFile)
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

// maxKey bounds the read of --digest-key-file: a key is a few dozen bytes.
const maxKey = 4096

func readKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKey+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKey {
		return nil, fmt.Errorf("%s: more than %d bytes; a key is a few dozen", path, maxKey)
	}
	return b, nil
}
