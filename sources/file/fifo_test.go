//go:build unix

package file_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hushinit/hush/sources/file"
)

// TestReadFIFOHonoursContext opens a FIFO nobody writes to: open(2) blocks,
// and Read must still return when ctx ends.
func TestReadFIFOHonoursContext(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// Release the abandoned reader's open so the test leaks no goroutine.
	t.Cleanup(func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			_ = w.Close()
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := waitErr(t, func() error {
		_, err := file.New("").Read(ctx, fifo, nil)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

// TestReadFIFOWithWriter reads a secret a writer pushes through a FIFO, as
// some tools deliver them.
func TestReadFIFOWithWriter(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		_, _ = w.Write([]byte("piped\n"))
	}()
	var got []byte
	err := waitErr(t, func() error {
		s, err := file.New("").Read(context.Background(), fifo, nil)
		got = s.Bytes()
		return err
	})
	if err != nil || string(got) != "piped" {
		t.Fatalf("Read = %q, %v", got, err)
	}
}
