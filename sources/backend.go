package sources

import (
	"context"
	"errors"
	"net/url"
)

// MaxSecretSize is the largest value hush accepts (1 MiB). Backends bound
// their reads to MaxSecretSize+1 bytes so that an oversized secret is
// detected without reading it all.
const MaxSecretSize = 1 << 20

// ErrNotFound is wrapped by errors that mean "this secret (or this key in it)
// does not exist", which an optional reference turns into an unset variable.
var ErrNotFound = errors.New("not found")

// Backend reads one document: for the file backend the file's bytes, for a
// secret manager the JSON of the secret's data. A missing secret returns an
// error wrapping ErrNotFound (see NotFound). Read must honour ctx and must
// never put the document's bytes in an error.
type Backend interface {
	Read(ctx context.Context, path string, query url.Values) (Secret, error)
}

// QueryValidator is implemented by backends that accept query parameters of
// their own. A backend that does not implement it accepts none, so that a
// mistyped parameter is an error before anything is read instead of being
// silently ignored.
type QueryValidator interface {
	ValidQuery(query url.Values) error
}

// NotFound marks err as a missing secret: the result matches ErrNotFound
// with errors.Is, keeps err in its chain, and prints exactly as err (so a
// backend's message such as os.PathError's stays readable).
func NotFound(err error) error {
	if err == nil {
		return nil
	}
	return notFoundError{err: err}
}

type notFoundError struct{ err error }

func (e notFoundError) Error() string        { return e.err.Error() }
func (e notFoundError) Unwrap() error        { return e.err }
func (e notFoundError) Is(target error) bool { return target == ErrNotFound }
