package sources

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Common query parameters, understood by every backend and removed from
// Ref.Query.
const (
	paramOptional = "optional"
	paramAs       = "as"
)

// ParseRef parses a reference ref+BACKEND://PATH[?QUERY][#FRAGMENT], with an
// optional trailing "+" (vals' terminator). Errors contain the reference text
// and nothing else.
func ParseRef(value string) (Ref, error) {
	r, err := parseRef(value)
	if err != nil {
		return Ref{}, fmt.Errorf("%s: %w", displayRef(value), err)
	}
	return r, nil
}

// parseRef is ParseRef without the reference in its errors, for callers
// (Scan) that put it in a VarError themselves.
func parseRef(value string) (Ref, error) {
	if !IsRef(value) {
		return Ref{}, errors.New(`a reference starts with "ref+"`)
	}
	if err := checkChars(value); err != nil {
		return Ref{}, err
	}
	body := strings.TrimSuffix(value[len(refPrefix):], "+")
	backend, rest, ok := strings.Cut(body, "://")
	if !ok {
		return Ref{}, errors.New("expected ref+BACKEND://PATH")
	}
	if err := checkBackendName(backend); err != nil {
		return Ref{}, err
	}
	rest, fragment, _ := strings.Cut(rest, "#")
	rawPath, rawQuery, _ := strings.Cut(rest, "?")

	path, err := url.PathUnescape(rawPath)
	switch {
	case err != nil:
		return Ref{}, fmt.Errorf("path: %w", err)
	case path == "":
		return Ref{}, errors.New("empty path")
	case strings.IndexByte(path, 0) >= 0:
		return Ref{}, errors.New("path contains a NUL byte")
	}

	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Ref{}, fmt.Errorf("query: %w", err)
	}
	optional, err := takeParam(query, paramOptional, map[string]bool{"": true, "true": true, "false": false})
	if err != nil {
		return Ref{}, err
	}
	asFile, err := takeParam(query, paramAs, map[string]bool{"file": true, "env": false})
	if err != nil {
		return Ref{}, err
	}

	// RFC 6901 section 6: in a URI fragment the pointer is percent-encoded.
	pointer, err := url.PathUnescape(fragment)
	if err != nil {
		return Ref{}, fmt.Errorf("fragment: %w", err)
	}
	// vals also accepts #foo/bar for #/foo/bar. An RFC 6901 pointer other
	// than "" starts with "/", so the shorter form is never ambiguous.
	if pointer != "" && pointer[0] != '/' {
		pointer = "/" + pointer
	}
	if _, err := parsePointer(pointer); err != nil {
		return Ref{}, err
	}

	return Ref{
		Raw:      value,
		Backend:  backend,
		Path:     path,
		Query:    query,
		Pointer:  pointer,
		Optional: optional,
		AsFile:   asFile,
	}, nil
}

// checkChars rejects whitespace and control characters: in an environment
// value they are nearly always a copy-paste accident (a trailing newline or
// space from YAML), and they would otherwise make a confusing "not found".
// A path that really holds them can percent-encode them.
func checkChars(value string) error {
	if !utf8.ValidString(value) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range value {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return errors.New("contains whitespace or a control character (percent-encode it)")
		}
	}
	return nil
}

func checkBackendName(name string) error {
	if name == "" {
		return errors.New("missing backend name (ref+BACKEND://PATH)")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return fmt.Errorf("backend name %q: only lowercase letters and digits", name)
		}
	}
	return nil
}

// takeParam removes a common parameter from query and maps its value through
// allowed. A parameter given twice is an error rather than a silent pick.
func takeParam(query url.Values, key string, allowed map[string]bool) (bool, error) {
	vals, ok := query[key]
	if !ok {
		return false, nil
	}
	delete(query, key)
	if len(vals) > 1 {
		return false, fmt.Errorf("query parameter %q given more than once", key)
	}
	v, ok := allowed[vals[0]]
	if !ok {
		return false, fmt.Errorf("query parameter %s=%q: want one of %s", key, vals[0], allowedList(allowed))
	}
	return v, nil
}

func allowedList(allowed map[string]bool) string {
	var names []string
	for _, k := range []string{"true", "false", "file", "env"} {
		if _, ok := allowed[k]; ok {
			names = append(names, k)
		}
	}
	return strings.Join(names, ", ")
}
