package file_test

import (
	"path/filepath"
	"testing"

	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/file"
	"github.com/hushinit/hush/sources/internal/jointest"
)

// Close waits for the watch's goroutine, even one still delivering a
// notice, and even though the context given to Watch never ends.
func TestCloseJoinsWatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	write(t, path, "one")
	key := sources.GroupKey{Backend: file.Name, Path: path}
	jointest.CheckWatch(t, file.New(dir), []sources.GroupKey{key}, sources.WatchOptions{}, func() { write(t, path, "two") })
}
