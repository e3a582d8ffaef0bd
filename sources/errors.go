package sources

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// VarError is the error of one variable: "NAME: REFERENCE: detail". It never
// holds a value; cmd/hush may use errors.As on the members of a joined error
// to build a per-variable report.
type VarError struct {
	Name string // the variable, e.g. DB_PASSWORD
	From string // the variable that held the reference when not Name (DB_PASSWORD_FILE)
	Ref  string // the reference text, e.g. ref+file:///run/secrets/db
	Err  error
}

func (e *VarError) Error() string {
	var b strings.Builder
	b.WriteString(e.Name)
	if e.From != "" {
		b.WriteString(" (from " + e.From + ")")
	}
	if e.Ref != "" {
		b.WriteString(": " + displayRef(e.Ref))
	}
	b.WriteString(": " + displayText(e.Err.Error()))
	return b.String()
}

func (e *VarError) Unwrap() error { return e.Err }

// maxDisplay bounds how much of a reference an error repeats, so that a
// huge malformed value cannot flood the log.
const maxDisplay = 256

// maxDetail bounds the detail of an error (a backend's message quotes the
// path, which can be as long as the reference).
const maxDetail = 1024

// displayText bounds an error's text to maxDetail bytes.
func displayText(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// displayRef renders reference text for an error message: as is when it is
// short and printable, otherwise quoted and truncated, so that every error
// stays on one line.
func displayRef(s string) string {
	truncated := false
	if len(s) > maxDisplay {
		cut := maxDisplay
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s, truncated = s[:cut], true
	}
	plain := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '"' {
			plain = false
			break
		}
	}
	if !plain {
		s = strconv.Quote(s)
	}
	if truncated {
		s += "..."
	}
	return s
}

// Errors lists the members of a joined error, depth first, so that each
// failed variable can get its own log line; any other error is a list of
// one.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	return []error{err}
}
