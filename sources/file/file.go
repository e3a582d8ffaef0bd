// Package file is the file backend: ref+file:///abs/path and
// ref+file://rel/path. It serves Docker Compose and Swarm secrets
// (/run/secrets/NAME), Kubernetes secret volumes, BuildKit secret mounts and
// the _FILE convention, all of which are plain files.
package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/internal/background"
)

// Name is the backend name in references.
const Name = "file"

// Backend reads secrets from files. It holds the directory relative paths
// are resolved against and its watches; it is safe for concurrent use.
type Backend struct {
	workDir string
	watches background.Group
}

var _ sources.Watcher = (*Backend)(nil)

// New returns a file backend resolving relative paths against workDir, which
// should be absolute (hush's working directory at start). An empty workDir
// resolves them against the process's working directory at read time.
func New(workDir string) *Backend {
	return &Backend{workDir: workDir}
}

// Abs returns the file a reference path names, for reading and for watchers.
func (b *Backend) Abs(path string) string {
	if filepath.IsAbs(path) || b.workDir == "" {
		return path
	}
	return filepath.Join(b.workDir, path)
}

// ValidQuery implements sources.QueryValidator: a file takes no parameters
// beyond the common ones, so any other is a mistake worth failing on.
func (b *Backend) ValidQuery(query url.Values) error {
	if len(query) == 0 {
		return nil
	}
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, fmt.Sprintf("%q", k))
	}
	sort.Strings(keys)
	return fmt.Errorf("unknown query parameter %s (the file backend takes only optional and as)", strings.Join(keys, ", "))
}

// Read returns the file's content minus one trailing newline ("\n" or
// "\r\n"), following symlinks (Kubernetes volumes are name -> ..data/name,
// ..data -> ..TIMESTAMP/). A missing file wraps sources.ErrNotFound; a file
// over sources.MaxSecretSize is an error found by reading at most one byte
// more.
//
// Opening can block forever (a FIFO with no writer, a hung network mount),
// and a blocked open(2) cannot be interrupted from Go. The read therefore
// runs in its own goroutine and Read returns as soon as ctx ends; that
// goroutine stays blocked until the open returns. This is acceptable
// because hush reads at startup and at rotation, and a startup timeout ends
// the process; the result channel is buffered so the goroutine can always
// finish.
func (b *Backend) Read(ctx context.Context, path string, query url.Values) (sources.Secret, error) {
	if err := b.ValidQuery(query); err != nil {
		return sources.Secret{}, err
	}
	if err := ctx.Err(); err != nil {
		return sources.Secret{}, err
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		data, err := readFile(b.Abs(path))
		ch <- result{data, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return sources.Secret{}, r.err
		}
		return sources.NewSecret(trimNewline(r.b)), nil
	case <-ctx.Done():
		return sources.Secret{}, fmt.Errorf("reading %s: %w", b.Abs(path), ctx.Err())
	}
}

// readFile reads at most MaxSecretSize+1 bytes of a regular file (or a
// FIFO or device, which some secret tools use). Errors carry the path and
// never content.
func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, sources.NotFound(err)
		}
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, sources.MaxSecretSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > sources.MaxSecretSize {
		return nil, fmt.Errorf("%s is larger than the %d-byte limit", name, sources.MaxSecretSize)
	}
	return data, nil
}

// trimNewline removes one trailing "\n" or "\r\n": editors and `echo` add
// one, while a secret that really ends in a newline can keep a second one.
func trimNewline(b []byte) []byte {
	if rest, ok := bytes.CutSuffix(b, []byte("\n")); ok {
		rest, _ = bytes.CutSuffix(rest, []byte("\r"))
		return rest
	}
	return b
}
