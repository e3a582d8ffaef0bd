package file_test

import (
	"context"
	"os"
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
	b := file.New(dir)
	notice := jointest.NewNotice()
	key := sources.GroupKey{Backend: file.Name, Path: path}
	if err := b.Watch(context.Background(), []sources.GroupKey{key}, sources.WatchOptions{}, notice.Notify); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	notice.CloseWaits(t, b)
	if err := b.Watch(context.Background(), []sources.GroupKey{key}, sources.WatchOptions{}, notice.Notify); err == nil {
		t.Error("Watch after Close succeeded: its goroutine would never be joined")
	}
}
