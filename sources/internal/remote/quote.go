package remote

import "strings"

// MaxQuote bounds what hush repeats of a server's text (an error message,
// a header) in one log line or error.
const MaxQuote = 200

// Quote makes text that came from a server or an operator safe for one log
// line: every credential in secrets replaced, control characters turned
// into spaces, at most MaxQuote bytes (cut on a character boundary).
func Quote(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > MaxQuote {
		cut := MaxQuote
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func utf8Start(b byte) bool { return b&0xc0 != 0x80 }

// CheckToken refuses a token that cannot travel in an HTTP header as it
// is: whitespace or control characters mean a mangled file or variable,
// and net/http would otherwise reject the request with a message quoting
// the header.
func CheckToken(what, tok string) error {
	if strings.ContainsFunc(tok, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return &tokenError{what: what}
	}
	return nil
}

type tokenError struct{ what string }

func (e *tokenError) Error() string {
	return e.what + " contains whitespace or control characters"
}
