package remote

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxCredentialFile bounds the credential files hush reads: tokens, secret
// ids, client secrets and service account tokens are well under it.
const MaxCredentialFile = 64 << 10

// ErrTooLarge is wrapped by every "larger than the limit" error.
var ErrTooLarge = errors.New("larger than the limit")

// ReadLimited reads at most limit bytes of a file; a larger file is an
// error (wrapping ErrTooLarge) rather than a silently cut credential.
func ReadLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is %w of %d bytes", name, ErrTooLarge, limit)
	}
	return b, nil
}

// ReadCredential reads a credential file (bounded), without surrounding
// whitespace: `echo token > file` adds a newline a server would reject.
// Errors name the variable that pointed at the file and the file, never
// what it holds; an empty file is an error.
func ReadCredential(path, envName string) (string, error) {
	b, err := ReadLimited(path, MaxCredentialFile)
	if err != nil {
		return "", fmt.Errorf("%s: %w", envName, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", envName, path)
	}
	return v, nil
}
