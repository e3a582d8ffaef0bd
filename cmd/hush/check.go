package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/hushinit/hush/shim"
)

// runCheck resolves every reference and prints what it found without a
// value: name, source, size and a digest prefix that lets two deployments be
// compared without revealing the secret. It starts nothing and writes no
// secret file, so it is safe in CI and in a HEALTHCHECK.
func runCheck(ctx context.Context, opts options, environ []string, getenv func(string) string, stdout io.Writer, log *slog.Logger) int {
	wd, err := os.Getwd()
	if err != nil {
		log.Error("check failed", "err", err.Error())
		return shim.ExitHushFailed
	}
	plan, err := newSecretPlan(opts, environ, getenv, wd, nil, log)
	if err != nil {
		logError(log, "check failed", err)
		return shim.ExitHushFailed
	}
	defer plan.Close()
	ctx, cancel := context.WithTimeout(ctx, opts.startupTimeout)
	defer cancel()
	values, err := plan.resolve(ctx)
	if err != nil {
		logError(log, "check failed", err)
		return shim.ExitHushFailed
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tBACKEND\tPATH\tBYTES\tSHA256\tDELIVERY")
	for _, v := range values {
		size, digest := "-", "-"
		if v.Missing {
			digest = "(missing, optional)"
		} else {
			size, digest = strconv.Itoa(v.Secret.Len()), v.Secret.ShortDigest()
		}
		delivery := "env"
		if plan.asFile(v.Ref) {
			delivery = "file"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Ref.Backend, v.Ref.Path, size, digest, delivery)
	}
	if err := tw.Flush(); err != nil {
		log.Error("check failed", "err", err.Error())
		return shim.ExitHushFailed
	}
	return 0
}
