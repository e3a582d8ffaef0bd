package file_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/file"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReadTrimsOneNewline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content, want string
	}{
		{"no newline", "pw", "pw"},
		{"LF", "pw\n", "pw"},
		{"CRLF", "pw\r\n", "pw"},
		{"two LF", "pw\n\n", "pw\n"},
		{"two CRLF", "pw\r\n\r\n", "pw\r\n"},
		{"lone CR kept", "pw\r", "pw\r"},
		{"inner newline kept", "a\nb\n", "a\nb"},
		{"only newline", "\n", ""},
		{"empty", "", ""},
		{"NUL kept", "a\x00b", "a\x00b"},
	}
	dir := t.TempDir()
	b := file.New(dir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := strings.ReplaceAll(tt.name, " ", "_")
			write(t, filepath.Join(dir, name), tt.content)
			s, err := b.Read(context.Background(), name, url.Values{})
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got := string(s.Bytes()); got != tt.want {
				t.Errorf("Read = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadSizeLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const marker = "SECRET-MARKER"
	exact := marker + strings.Repeat("a", sources.MaxSecretSize-len(marker))
	write(t, filepath.Join(dir, "exact"), exact)
	write(t, filepath.Join(dir, "over"), exact+"a")
	b := file.New(dir)

	s, err := b.Read(context.Background(), "exact", nil)
	if err != nil || s.Len() != sources.MaxSecretSize {
		t.Fatalf("1 MiB file: len %d, err %v", s.Len(), err)
	}
	_, err = b.Read(context.Background(), "over", nil)
	if err == nil || !strings.Contains(err.Error(), "larger than the 1048576-byte limit") {
		t.Fatalf("1 MiB + 1 file: err = %v", err)
	}
	if strings.Contains(err.Error(), marker) {
		t.Errorf("error leaks content: %v", err)
	}
}

func TestReadUnboundedSource(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	_, err := file.New("").Read(context.Background(), "/dev/zero", nil)
	if err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("err = %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "sub", "x"), "v")
	if err := os.Symlink("nowhere", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	b := file.New(dir)
	tests := []struct {
		name, path, wantErr string
		query               url.Values
		notFound            bool
	}{
		{"missing", "nope", "open " + filepath.Join(dir, "nope") + ": no such file or directory", nil, true},
		{"missing absolute", filepath.Join(dir, "nope"), "no such file", nil, true},
		{"missing parent", "nodir/x", "no such file", nil, true},
		{"dangling symlink", "dangling", "no such file", nil, true},
		{"directory", "sub", "is a directory", nil, false},
		{"not a directory", "sub/x/y", "not a directory", nil, false},
		{"query", "sub/x", `unknown query parameter "foo"`, url.Values{"foo": {"1"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.Read(context.Background(), tt.path, tt.query)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if got := errors.Is(err, sources.ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(ErrNotFound) = %v, want %v", got, tt.notFound)
			}
		})
	}
}

// TestReadKubernetesLayout builds a Kubernetes secret volume:
// name -> ..data/name, ..data -> ..2024_01_01_00_00_00.000000000/.
func TestReadKubernetesLayout(t *testing.T) {
	t.Parallel()
	vol := t.TempDir()
	ts := "..2024_01_01_00_00_00.000000000"
	write(t, filepath.Join(vol, ts, "password"), "k8s-pw\n")
	write(t, filepath.Join(vol, ts, "config.json"), `{"db":{"user":"app"}}`)
	if err := os.Symlink(ts, filepath.Join(vol, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"password", "config.json"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(vol, name)); err != nil {
			t.Fatal(err)
		}
	}

	b := file.New("/")
	s, err := b.Read(context.Background(), filepath.Join(vol, "password"), nil)
	if err != nil || string(s.Bytes()) != "k8s-pw" {
		t.Fatalf("Read = %q, %v", s.Bytes(), err)
	}

	// Through the resolver, with a pointer, as cmd/hush will do it.
	r := &sources.Resolver{Backends: map[string]sources.Backend{file.Name: b}}
	_, reqs, err := sources.Scan([]string{"DB_USER=ref+file://" + filepath.Join(vol, "config.json") + "#/db/user"}, sources.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vals, err := r.Resolve(context.Background(), reqs, sources.ResolveOptions{})
	if err != nil || string(vals[0].Secret.Bytes()) != "app" {
		t.Fatalf("Resolve = %v, %v", vals, err)
	}
}

func TestAbs(t *testing.T) {
	t.Parallel()
	tests := []struct{ workDir, path, want string }{
		{"/app", "secrets/x", "/app/secrets/x"},
		{"/app", "./x", "/app/x"},
		{"/app", "/run/secrets/x", "/run/secrets/x"},
		{"", "rel", "rel"},
	}
	for _, tt := range tests {
		if got := file.New(tt.workDir).Abs(tt.path); got != tt.want {
			t.Errorf("New(%q).Abs(%q) = %q, want %q", tt.workDir, tt.path, got, tt.want)
		}
	}
}

func TestValidQuery(t *testing.T) {
	t.Parallel()
	b := file.New("/")
	if err := b.ValidQuery(url.Values{}); err != nil {
		t.Errorf("empty query: %v", err)
	}
	if err := b.ValidQuery(nil); err != nil {
		t.Errorf("nil query: %v", err)
	}
	err := b.ValidQuery(url.Values{"b": {"1"}, "a": {"2"}})
	if err == nil || !strings.Contains(err.Error(), `"a", "b"`) {
		t.Errorf("err = %v", err)
	}
	// Through Scan, the error names the variable.
	r := &sources.Resolver{Backends: map[string]sources.Backend{file.Name: b}}
	_, _, err = sources.Scan([]string{"X=ref+file:///x?foo=1"}, sources.ScanOptions{ValidateRef: r.ValidateRef})
	if err == nil || !strings.HasPrefix(err.Error(), `X: ref+file:///x?foo=1: unknown query parameter "foo"`) {
		t.Errorf("Scan err = %v", err)
	}
}

func TestReadCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "x"), "v")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := file.New(dir).Read(ctx, "x", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// waitErr fails the test if fn does not return within a generous bound,
// which only catches hangs.
func waitErr(t *testing.T, fn func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("did not return")
		return nil
	}
}
