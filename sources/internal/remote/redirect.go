package remote

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Origin is what a credential is bound to: scheme, host and port (the
// scheme's default port when the URL names none), lower-cased.
func Origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// RedirectError is a redirect hush refused to follow because the request
// carried a credential and the redirect leads to another origin, or
// because there were too many.
type RedirectError struct {
	From, To string // origins, never paths or queries
	TooMany  bool
}

func (e *RedirectError) Error() string {
	if e.TooMany {
		return "refused a chain of redirects (too many)"
	}
	return fmt.Sprintf("refused a redirect from %s to %s: hush sends credentials only to the origin it was configured with "+
		"(scheme, host and port; never https to http); point the address setting at the server that answers", e.From, Quote(e.To, nil))
}

// IsRedirect reports whether err is (or wraps) a refused redirect: never
// worth a retry, the next attempt would be redirected the same way.
func IsRedirect(err error) bool {
	var re *RedirectError
	return errors.As(err, &re)
}

// SameOrigin is an http.Client CheckRedirect policy that follows at most
// limit redirects, each to the origin of the first request, and refuses any
// other: the redirected request would carry the credential (a header, or a
// 307's re-sent body holding a client secret) to a server nobody
// configured. limit 0 follows none and hands the redirect back as the
// answer.
func SameOrigin(limit int) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if limit == 0 {
			return http.ErrUseLastResponse
		}
		if len(via) > limit {
			return &RedirectError{TooMany: true}
		}
		from, to := Origin(via[0].URL), Origin(req.URL)
		if from != to {
			return &RedirectError{From: from, To: to}
		}
		return nil
	}
}
