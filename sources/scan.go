package sources

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"
)

// fileSuffix marks the docker-library _FILE convention: X_FILE=/path sets X
// to the file's content.
const fileSuffix = "_FILE"

// ScanOptions configures Scan.
type ScanOptions struct {
	// FileEnvPatterns turns X_FILE=/path into a file reference for X when X
	// matches one of these path.Match globs ("*" matches every name). The
	// convention is opt-in because PID_FILE, LOG_FILE or CONFIG_FILE are
	// common and are not secrets. The caller splits comma lists.
	FileEnvPatterns []string
	// IsBackend reports whether a name is a backend of this build, which
	// tells a reference inside a longer value ("...:ref+vault://db#/pw+@...")
	// from text that merely contains "ref+"; Resolver.HasBackend fits. nil
	// looks for no reference inside longer values.
	IsBackend func(name string) bool
	// Reserved names the variables the _FILE convention must never set
	// (hush's own HUSH_* settings): their X_FILE passes through as is.
	Reserved func(name string) bool
	// ValidateRef checks a parsed reference against the backends this
	// build has (the backend exists, accepts the query parameters);
	// Resolver.ValidateRef fits. This is the one place a reference is
	// validated: Resolve trusts what Scan let through. nil accepts every
	// reference that parses.
	ValidateRef func(Ref) error
}

// Scan splits an environment (KEY=VALUE entries) into plain entries, passed
// through untouched and in order, and reference requests, in environment
// order. A later duplicate of a name replaces an earlier one, as os/exec
// does. Every malformed reference, unknown backend, invalid query and _FILE
// conflict is reported, one error per variable, joined; the variables that
// were fine are still returned, so that a caller can report what reading
// them finds in the same run. A variable in error is in neither list.
func Scan(environ []string, opts ScanOptions) (plain []string, reqs []Request, err error) {
	var errs []error
	for _, p := range opts.FileEnvPatterns {
		if err := ValidFileEnvPattern(p); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}

	entries := dedupEnv(environ)
	fileReqs, errs := applyFileEnv(entries, opts)

	for i, e := range entries {
		switch {
		case e.drop:
		case fileReqs[i] != nil:
			req := *fileReqs[i]
			if err := checkRef(req.Ref, opts); err != nil {
				errs = append(errs, varError(req, err))
				continue
			}
			reqs = append(reqs, req)
		case e.hasValue && IsRef(e.value):
			ref, err := parseRef(e.value)
			if err == nil {
				err = checkRef(ref, opts)
			}
			if err != nil {
				errs = append(errs, &VarError{Name: e.name, Ref: e.value, Err: err})
				continue
			}
			reqs = append(reqs, Request{Name: e.name, Ref: ref})
		case e.hasValue && opts.IsBackend != nil && valsSecretRef(e.value, opts.IsBackend):
			// vals reads secretref+ as it reads ref+; passing it on as
			// text would hand the child a different value in silence.
			errs = append(errs, &VarError{Name: e.name, Err: errSecretRef})
		case e.hasValue && opts.IsBackend != nil && strings.Contains(e.value, refPrefix):
			found := findEmbedded(e.value, opts.IsBackend)
			if len(found) == 0 {
				plain = append(plain, e.kv)
				continue
			}
			parts, err := embeddedParts(e.name, e.value, found, opts)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			reqs = append(reqs, Request{Name: e.name, Parts: parts})
		default:
			plain = append(plain, e.kv)
		}
	}
	return plain, reqs, errors.Join(errs...)
}

func checkRef(ref Ref, opts ScanOptions) error {
	if opts.ValidateRef != nil {
		return opts.ValidateRef(ref)
	}
	return nil
}

// ValidFileEnvPattern checks one --file-env glob. Patterns match the target
// name X, not X_FILE.
func ValidFileEnvPattern(p string) error {
	if p == "" {
		return errors.New("file-env pattern: empty")
	}
	if strings.ContainsFunc(p, func(r rune) bool {
		return r == '=' || r == '/' || r == ',' || unicode.IsSpace(r) || unicode.IsControl(r)
	}) {
		return fmt.Errorf("file-env pattern %q: may not contain '=', '/', ',' or whitespace", p)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("file-env pattern %q: %w", p, err)
	}
	return nil
}

type envEntry struct {
	kv       string // the entry as given
	name     string
	value    string
	hasValue bool // false for an entry without "=", passed through as is
	drop     bool // removed from the child's environment by the _FILE convention
}

// dedupEnv parses environ, keeping the last entry of each name at its own
// position, which is what os/exec does with duplicates.
func dedupEnv(environ []string) []envEntry {
	seen := make(map[string]bool, len(environ))
	out := make([]envEntry, 0, len(environ))
	for i := len(environ) - 1; i >= 0; i-- {
		kv := environ[i]
		name, value, ok := strings.Cut(kv, "=")
		if ok {
			if seen[name] {
				continue
			}
			seen[name] = true
		}
		out = append(out, envEntry{kv: kv, name: name, value: value, hasValue: ok})
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// applyFileEnv applies the _FILE convention: for X_FILE whose target X
// matches a pattern it returns a file request for X at X_FILE's index and
// marks entries to drop. Following the official Docker images' file_env:
// an empty value counts as unset, X and X_FILE both set is an error, and
// X_FILE never reaches the child. An X_FILE whose value is itself a
// reference is left alone: it is an ordinary reference (typically ?as=file,
// giving the app the path it expects).
func applyFileEnv(entries []envEntry, opts ScanOptions) ([]*Request, []error) {
	patterns := opts.FileEnvPatterns
	reqs := make([]*Request, len(entries))
	if len(patterns) == 0 {
		return reqs, nil
	}
	index := make(map[string]int, len(entries))
	for i, e := range entries {
		if e.hasValue {
			index[e.name] = i
		}
	}
	var errs []error
	for i, e := range entries {
		target, ok := strings.CutSuffix(e.name, fileSuffix)
		if !e.hasValue || !ok || target == "" || IsRef(e.value) || !matchAny(patterns, target) ||
			(opts.Reserved != nil && opts.Reserved(target)) {
			continue
		}
		entries[i].drop = true
		if e.value == "" {
			continue
		}
		if j, ok := index[target]; ok {
			if entries[j].value != "" {
				errs = append(errs, fmt.Errorf("%s and %s are both set, but are exclusive", target, e.name))
				continue
			}
			entries[j].drop = true
		}
		ref := FileRef(e.value)
		reqs[i] = &Request{Name: target, Ref: ref, From: e.name}
		entries[i].drop = false // the slot now carries the request
	}
	return reqs, errs
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
