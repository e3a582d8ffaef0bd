// Command hush is a PID-1 entrypoint for containers that resolves secret
// references into the environment (or files) of one child process.
//
// main only parses options and wires the pieces (supervise.go, top to
// bottom): plan decides what the child gets, sources reads the secrets,
// shim supervises the child.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hushinit/hush/shim"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// hush re-executed as the trampoline that execs a child (LISTEN_PID,
	// --no-new-privs): it must not catch signals or parse anything.
	if shim.IsTrampoline(os.Args) {
		os.Exit(shim.RunTrampoline(os.Args, os.Stderr))
	}
	// Signals first: see shim's package documentation.
	sigs := shim.Catch()
	os.Exit(run(context.Background(), sigs, os.Args[1:], os.Getenv, os.Environ(), os.Stdout, os.Stderr))
}

func run(ctx context.Context, sigs *shim.Signals, args []string, getenv func(string) string,
	environ []string, stdout, stderr io.Writer) int {
	opts, rest, err := parseOptions(args, getenv)
	if err != nil {
		usageError(stderr, err)
		return shim.ExitHushFailed
	}
	switch {
	case opts.help:
		fmt.Fprint(stdout, usage)
		return 0
	case opts.version:
		fmt.Fprintf(stdout, "hush version %s\n", version)
		return 0
	case len(rest) == 0:
		usageError(stderr, errors.New("no command given"))
		return shim.ExitHushFailed
	}
	// A subcommand is only ever hush's own first word: after "--" (as in
	// ENTRYPOINT ["hush", "--"] with CMD ["check"]) it is the program.
	if !opts.dashDash {
		switch rest[0] {
		case "version":
			fmt.Fprintf(stdout, "hush version %s\n", version)
			return 0
		case "check":
			// Options may also follow the subcommand: hush check --file-env '*'.
			more, extra, err := parseOptionsOnto(opts, rest[1:])
			if err == nil && len(extra) > 0 {
				err = fmt.Errorf("check takes no arguments, got %q", strings.Join(extra, " "))
			}
			if err != nil {
				usageError(stderr, err)
				return shim.ExitHushFailed
			}
			return runCheck(ctx, more, environ, getenv, stdout, newLogger(more, stderr))
		}
	}
	log := newLogger(opts, stderr)
	return supervise(ctx, sigs, opts, rest, environ, getenv, log)
}

// usageError reports a bad command line in one line, the way every other
// error of hush reads.
func usageError(w io.Writer, err error) {
	fmt.Fprintf(w, "hush: error: %s (see hush --help)\n", err)
}

const usage = `hush: a PID-1 entrypoint that resolves secret references for one child.

Usage:
  hush [OPTIONS] [--] COMMAND [ARG...]
  hush check [OPTIONS]     resolve every reference, print a table without values
  hush version | --version | -V

Options (each also as HUSH_<NAME>, e.g. HUSH_PROCESS_GROUP=1; flags win):
  -g, --process-group      forward signals to the child's process group
  -e, --remap-exit N       treat child exit status N as 0 (repeatable)
  -r, --rewrite S:R        rewrite signal S to R before forwarding; R=0 drops it (repeatable)
      --user USER[:GROUP]  run the child as this user after secrets are read
      --drain DURATION     after the child exits, stop what it left behind, waiting up to DURATION (default 0)
      --on-change ACTION   restart (default), rolling, signal:SIGNAME, exit or none
      --listen ADDR        open tcp://HOST:PORT or unix:///path before the first child and pass it
                           to every child as fd 3, 4, ... with LISTEN_FDS/LISTEN_PID (repeatable)
      --ready-delay DUR    rolling: a new child is ready this long after its start (default: wait for it)
      --ready-timeout DUR  rolling: a new child not ready by then is stopped (default 60s)
      --no-new-privs       start the child with PR_SET_NO_NEW_PRIVS (no gain from setuid binaries)
      --stop-signal SIG    signal for a rotation restart or a drain (default SIGTERM)
      --stop-timeout DUR   grace before SIGKILL on restart (default 10s)
      --deliver env|file   deliver secrets as variables (default) or as files in memory
      --startup-timeout D  deadline for reading every secret before the first start (default 60s)
      --poll-interval DUR  how often sources that cannot be watched are checked (default 30s)
      --debounce DUR       merge changes within DUR into one action (default 2s)
      --splay DUR          random delay before acting on a change (default 0)
      --keep-env NAME      keep a credential hush used in the child's environment (repeatable)
      --file-env PATTERN   turn X_FILE=/path into X for names matching PATTERN (repeatable, globs)
      --files-dir DIR      tmpfs or ramfs for secrets delivered as files (default /dev/shm)
      --digest-key-file F  hush check: add HMAC-SHA256 digests keyed with F's content, to compare
                           deployments (whoever has the key and the table can test guesses offline)
      --revoke-on-exit     revoke the Vault leases (and login token) hush took when it exits
  -v, --verbose            debug logs (same as --log-level debug)
      --log-level LEVEL    debug, info (default), warn or error
      --log-format FORMAT  text (default) or json; logs go to stderr

Exit status: the child's; 128+N if it was killed by signal N; 125 if hush
failed; 126 if the command cannot be executed; 127 if it was not found.
`
