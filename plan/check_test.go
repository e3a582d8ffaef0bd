package plan

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestReadDigestKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, size int) string {
		path := dir + "/" + name
		if err := os.WriteFile(path, bytes.Repeat([]byte("k"), size), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name    string
		path    string
		wantLen int
		wantErr string
	}{
		{"a key", write("key", 32), 32, ""},
		{"the largest key", write("max", maxDigestKey), maxDigestKey, ""},
		{"too large", write("big", maxDigestKey+1), 0, "more than 4096 bytes"},
		{"missing", dir + "/none", 0, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := ReadDigestKey(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadDigestKey = %d bytes, %v; want an error containing %q", len(key), err, tt.wantErr)
				}
				return
			}
			if err != nil || len(key) != tt.wantLen {
				t.Fatalf("ReadDigestKey = %d bytes, %v; want %d", len(key), err, tt.wantLen)
			}
		})
	}
}
