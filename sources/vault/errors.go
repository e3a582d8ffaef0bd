package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/hushinit/hush/sources/internal/remote"
)

// requestError is a failed Vault request as hush reports it: the operation,
// the API path and the HTTP status or network cause, on one line. Vault's
// own error text is left out on purpose: it can echo request data (a login
// name, a database error), and a path and a status are enough to act on.
type requestError struct {
	op     string        // what hush was doing: "read", "log in", ...
	path   string        // the API path (no secret: tokens travel in headers)
	status int           // HTTP status, 0 for a network error
	cause  string        // the network cause or the meaning of the status
	err    error         // kept for errors.Is (context errors)
	wait   time.Duration // Retry-After
}

func (e *requestError) Error() string {
	var b strings.Builder
	b.WriteString(e.op)
	if e.path != "" {
		b.WriteString(" " + e.path)
	}
	b.WriteString(": ")
	if e.status != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.status)
		if e.cause != "" {
			b.WriteString(" (" + e.cause + ")")
		}
	} else {
		b.WriteString(e.cause)
	}
	return b.String()
}

func (e *requestError) Unwrap() error { return e.err }

// transient reports whether trying again later may succeed: the network, a
// sealed or overloaded server (5xx except 501), rate limiting (429), a
// standby not yet caught up (412).
func (e *requestError) transient() bool {
	if e.status == 0 {
		// A refused redirect would be redirected again.
		return !errors.Is(e.err, context.Canceled) && !remote.IsRedirect(e.err)
	}
	return e.status == http.StatusTooManyRequests || e.status == http.StatusPreconditionFailed ||
		(e.status >= 500 && e.status != http.StatusNotImplemented)
}

// describe turns an error from the client into a requestError without any
// text that came from the server.
func describe(op, path string, err error) *requestError {
	if err == nil {
		return nil
	}
	var re *requestError
	if errors.As(err, &re) {
		return re
	}
	e := &requestError{op: op, path: path, err: err}
	var se *statusError
	if errors.As(err, &se) {
		e.status = se.status
		e.cause = statusMeaning(se.status, se.errors)
		e.wait = se.retryAfter
		e.err = nil
		return e
	}
	var ae *api.ResponseError // from vault/api's own calls (the auth methods' logins)
	if errors.As(err, &ae) {
		e.status = ae.StatusCode
		e.cause = statusMeaning(ae.StatusCode, ae.Errors)
		e.err = nil
		return e
	}
	e.cause = networkCause(err)
	return e
}

// statusMeaning names a status the way an operator thinks of it. Only a few
// well-known server messages are recognised, and only to pick a fixed
// phrase; the server's text itself is never repeated.
func statusMeaning(status int, serverErrors []string) string {
	has := func(s string) bool {
		for _, e := range serverErrors {
			if strings.Contains(e, s) {
				return true
			}
		}
		return false
	}
	switch {
	case status == http.StatusForbidden:
		return "permission denied"
	case status == http.StatusServiceUnavailable && has("sealed"):
		return "Vault is sealed"
	case status == http.StatusBadRequest && has("missing client token"):
		return "no Vault token"
	case status == http.StatusBadRequest && has("lease not found"):
		return "lease not found"
	case status == http.StatusBadRequest && has("invalid secret id"):
		return "invalid secret id"
	case status == http.StatusBadRequest && has("invalid role"):
		return "invalid role"
	case status == http.StatusNotFound:
		return "not found"
	case status == http.StatusTooManyRequests:
		return "rate limited"
	case status == http.StatusServiceUnavailable:
		return "unavailable"
	case status >= 500:
		return "server error"
	}
	return http.StatusText(status)
}

// networkCause keeps the useful end of a transport error (connection
// refused, timeout, TLS) and drops the URL, which repeats what the message
// already says.
func networkCause(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer before the deadline"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "timed out"
		}
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oneLine(oe.Op + ": " + oe.Err.Error())
	}
	return oneLine(err.Error())
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}
