package remote

import (
	"fmt"
	"io"
)

// LimitedBody bounds what is read of an answer: reading past limit bytes
// fails with an error wrapping ErrTooLarge instead of returning a cut
// document. A decoder reads straight from it, so that a large answer is
// held once, as the decoded value, and never as a byte slice as well.
type LimitedBody struct {
	R     io.Reader
	Limit int64
	n     int64
}

func (l *LimitedBody) Read(p []byte) (int, error) {
	if l.n > l.Limit {
		return 0, l.err()
	}
	if rest := l.Limit + 1 - l.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := l.R.Read(p)
	l.n += int64(n)
	if l.n > l.Limit {
		return n, l.err()
	}
	return n, err
}

func (l *LimitedBody) err() error {
	return fmt.Errorf("the answer is %w of %d bytes", ErrTooLarge, l.Limit)
}

// ReadBody reads a whole answer of at most limit bytes.
func ReadBody(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(&LimitedBody{R: r, Limit: limit})
}
