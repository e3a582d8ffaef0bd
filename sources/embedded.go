package sources

import (
	"errors"
	"strings"
)

// Embedded references, vals' form: a value such as
//
//	postgres://app:ref+vault://db/creds/app#/password+@db:5432/app
//
// holds references inside a longer text. A reference starts at
// "ref+BACKEND://" with BACKEND a backend of this build, and ends at the
// next "+" (which is dropped) or at the end of the value. Text that merely
// contains "ref+" stays as it is; vals' "secretref+" with a backend of this
// build is refused by Scan (errSecretRef).

// errSecretRef refuses vals' secretref+ prefix, which vals resolves like
// ref+ (it only marks the value for masking in helmfile's output).
var errSecretRef = errors.New(`vals' "secretref+" prefix is not read by hush: write "ref+" instead (same reference, same value)`)

// valsSecretRef reports whether value holds "secretref+BACKEND://" with a
// backend of this build, whole or inside a longer value.
func valsSecretRef(value string, isBackend func(string) bool) bool {
	const prefix = "secret" + refPrefix
	for i := 0; ; {
		j := strings.Index(value[i:], prefix)
		if j < 0 {
			return false
		}
		at := i + j + len(prefix)
		if name, ok := backendAt(value[at:]); ok && isBackend(name) {
			return true
		}
		i = at
	}
}

// embeddedRef is one "ref+BACKEND://..." found inside a value.
type embeddedRef struct {
	start, end int // the reference's text is value[start:end]
	next       int // where the literal text after it starts (past its "+")
}

// findEmbedded lists the references inside value, in order.
func findEmbedded(value string, isBackend func(string) bool) []embeddedRef {
	var found []embeddedRef
	for i := 0; i < len(value); {
		j := strings.Index(value[i:], refPrefix)
		if j < 0 {
			break
		}
		start := i + j
		name, ok := backendAt(value[start+len(refPrefix):])
		// vals' secretref+ never reaches here with a known backend: Scan
		// refuses it first (errSecretRef).
		if !ok || !isBackend(name) || strings.HasSuffix(value[:start], "secret") {
			i = start + len(refPrefix)
			continue
		}
		body := start + len(refPrefix) + len(name) + len("://")
		end, next := len(value), len(value)
		if k := strings.IndexByte(value[body:], '+'); k >= 0 {
			end, next = body+k, body+k+1
		}
		found = append(found, embeddedRef{start: start, end: end, next: next})
		i = next
	}
	return found
}

// backendAt reads "NAME://" at the start of s.
func backendAt(s string) (string, bool) {
	n := 0
	for n < len(s) && ('a' <= s[n] && s[n] <= 'z' || '0' <= s[n] && s[n] <= '9') {
		n++
	}
	if n == 0 || !strings.HasPrefix(s[n:], "://") {
		return "", false
	}
	return s[:n], true
}

// embeddedParts splits value into literal text and parsed references. Each
// bad reference is its own *VarError.
func embeddedParts(name, value string, found []embeddedRef, opts ScanOptions) ([]Part, error) {
	var parts []Part
	var errs []error
	last := 0
	for _, f := range found {
		if f.start > last {
			parts = append(parts, Part{Text: value[last:f.start]})
		}
		raw := value[f.start:f.end]
		ref, err := parseRef(raw)
		if err == nil {
			err = checkEmbedded(ref)
		}
		if err == nil {
			err = checkRef(ref, opts)
		}
		if err != nil {
			errs = append(errs, &VarError{Name: name, Ref: raw, Err: err})
		} else {
			parts = append(parts, Part{Ref: &ref})
		}
		last = f.next
	}
	if last < len(value) {
		parts = append(parts, Part{Text: value[last:]})
	}
	return parts, errors.Join(errs...)
}

// checkEmbedded refuses what a reference inside a longer value cannot mean.
func checkEmbedded(ref Ref) error {
	if ref.AsFile {
		return errors.New("?as=file cannot be part of a longer value: deliver the whole variable as a file " +
			"with --deliver file, or give the file its own variable")
	}
	if ref.Optional {
		return errors.New("?optional=true cannot be part of a longer value: a missing secret would leave the " +
			"rest of the value standing")
	}
	return nil
}
