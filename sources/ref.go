package sources

import (
	"net/url"
	"strings"
)

// refPrefix starts every reference; a value without it passes through.
const refPrefix = "ref+"

// Ref is a parsed reference ref+BACKEND://PATH[?QUERY][#FRAGMENT].
// References are not secret: they may appear in logs and errors.
type Ref struct {
	Raw      string     // the reference text as written
	Backend  string     // "file", "vault", ...
	Path     string     // backend-specific, percent-decoded; for file "/abs/path" or "rel/path"
	Query    url.Values // backend-specific parameters (common ones removed); never nil once parsed
	Pointer  string     // RFC 6901 JSON pointer from the fragment, "" = whole document
	Optional bool       // ?optional=true: a missing secret leaves the variable unset
	// AllowEmpty (?allow_empty=true) accepts an empty value, which is
	// otherwise refused as the likely sign of a truncated file or an unset
	// key.
	AllowEmpty bool
	AsFile     bool // ?as=file: deliver this one as a file
}

// IsRef reports whether an environment value is a reference (and so must
// parse as one) rather than a plain value.
func IsRef(value string) bool { return strings.HasPrefix(value, refPrefix) }

// GroupKey identifies one read: references with the same backend, path and
// backend query share one read, so that, for instance, a dynamic database
// credential's username and password come from the same lease.
type GroupKey struct {
	Backend string
	Path    string
	Query   string // canonical: url.Values.Encode, sorted by key
}

// Group returns the read r belongs to. The pointer and the common parameters
// (optional, as) select from or deliver a document; they do not change which
// document is read.
func (r Ref) Group() GroupKey {
	return GroupKey{Backend: r.Backend, Path: r.Path, Query: r.Query.Encode()}
}

// String renders r canonically: common parameters merged into the sorted
// query, everything outside a conservative character set percent-encoded,
// no trailing "+". Parsing r.String() yields r again (apart from Raw).
func (r Ref) String() string {
	var b strings.Builder
	b.WriteString(refPrefix)
	b.WriteString(r.Backend)
	b.WriteString("://")
	b.WriteString(escape(r.Path))
	q := make(url.Values, len(r.Query)+2)
	for k, v := range r.Query {
		q[k] = v
	}
	if r.Optional {
		q.Set(paramOptional, "true")
	}
	if r.AllowEmpty {
		q.Set(paramAllowEmpty, "true")
	}
	if r.AsFile {
		q.Set(paramAs, "file")
	}
	if enc := q.Encode(); enc != "" {
		b.WriteByte('?')
		// Encode writes a space as "+", which a trailing position would
		// turn into vals' terminator; "%20" is unambiguous everywhere.
		b.WriteString(strings.ReplaceAll(enc, "+", "%20"))
	}
	if r.Pointer != "" {
		b.WriteByte('#')
		b.WriteString(escape(r.Pointer))
	}
	return b.String()
}

// FileRef returns the reference to a file path, as the _FILE convention
// produces it.
func FileRef(path string) Ref {
	r := Ref{Backend: "file", Path: path, Query: url.Values{}}
	r.Raw = r.String()
	return r
}

// escape percent-encodes every byte outside the characters that can appear
// in a path or fragment without changing the parse: no '%', '?', '#', '+',
// whitespace, control or non-ASCII bytes survive unescaped.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safeByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func safeByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~/:@!$&'()*,;=", c) >= 0
}
