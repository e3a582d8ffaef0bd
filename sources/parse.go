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
	paramOptional   = "optional"
	paramAs         = "as"
	paramAllowEmpty = "allow_empty"
)

// parseRef parses a reference ref+BACKEND://PATH[?QUERY][#FRAGMENT], with
// an optional trailing "+" (vals' terminator). Its errors never quote the
// reference: Scan puts it in a VarError, bounded.
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
	optional, err := takeBool(query, paramOptional)
	if err != nil {
		return Ref{}, err
	}
	allowEmpty, err := takeBool(query, paramAllowEmpty)
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
		Raw:        value,
		Backend:    backend,
		Path:       path,
		Query:      query,
		Pointer:    pointer,
		Optional:   optional,
		AllowEmpty: allowEmpty,
		AsFile:     asFile,
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

// takeBool removes a common boolean parameter; present without a value
// (?optional) it means true.
func takeBool(query url.Values, key string) (bool, error) {
	v, ok, err := takeOne(query, key)
	if err != nil || !ok {
		return false, err
	}
	if v == "" {
		return true, nil
	}
	b, err := ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("query parameter %s: %w", key, err)
	}
	return b, nil
}

// takeParam removes a common parameter from query and maps its value through
// allowed.
func takeParam(query url.Values, key string, allowed map[string]bool) (bool, error) {
	v, ok, err := takeOne(query, key)
	if err != nil || !ok {
		return false, err
	}
	b, ok := allowed[v]
	if !ok {
		return false, fmt.Errorf("query parameter %s=%q: want one of %s", key, v, allowedList(allowed))
	}
	return b, nil
}

// takeOne removes a common parameter from query and returns its value. A
// parameter given twice is an error rather than a silent pick.
func takeOne(query url.Values, key string) (string, bool, error) {
	vals, ok := query[key]
	if !ok {
		return "", false, nil
	}
	delete(query, key)
	if len(vals) > 1 {
		return "", false, fmt.Errorf("query parameter %q given more than once", key)
	}
	return vals[0], true, nil
}

func allowedList(allowed map[string]bool) string {
	var names []string
	for _, k := range []string{"file", "env"} {
		if _, ok := allowed[k]; ok {
			names = append(names, k)
		}
	}
	return strings.Join(names, ", ")
}
