// Package thief is a server nobody configured, for the tests that check a
// credential never follows a redirect to another origin: it records every
// request that reaches it and refuses it.
package thief

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Server records what reaches it: method, path, the credential headers of
// Vault and Infisical, and the body (a 307 re-sends a login's body).
type Server struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

// New starts a recording server that answers every request with status;
// it stops when the test ends.
func New(t testing.TB, status int) *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, r.Method+" "+r.URL.Path+
			" auth="+r.Header.Get("Authorization")+" token="+r.Header.Get("X-Vault-Token")+" body="+string(b))
		s.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s
}

// Requests returns what reached the server so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}
