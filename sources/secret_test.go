package sources_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/hushinit/hush/sources"
)

const secretText = "s3cr3t-VALUE"

func TestSecretAccessors(t *testing.T) {
	t.Parallel()
	s := sources.NewSecret([]byte(secretText))
	if got := string(s.Bytes()); got != secretText {
		t.Errorf("Bytes() = %q", got)
	}
	if s.Len() != len(secretText) {
		t.Errorf("Len() = %d", s.Len())
	}
	want := sha256.Sum256([]byte(secretText))
	if s.Digest() != want {
		t.Errorf("Digest() mismatch")
	}

	var zero sources.Secret
	if zero.Bytes() != nil || zero.Len() != 0 || zero.String() != "[redacted]" {
		t.Errorf("zero Secret: Bytes=%v Len=%d", zero.Bytes(), zero.Len())
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := sources.NewSecret([]byte(secretText))
	type exported struct{ S sources.Secret }
	type unexported struct{ s sources.Secret }
	value := sources.Value{Name: "DB_PASSWORD", Secret: s}

	jsonOf := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		return string(b)
	}
	slogOf := func(json bool) string {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
		if json {
			h = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
		}
		slog.New(h).Debug("msg", "secret", s, "value", value, "any", any(s))
		return buf.String()
	}
	text, _ := s.MarshalText()

	tests := []struct {
		name, got string
	}{
		{"%v", fmt.Sprintf("%v", s)},
		{"%+v", fmt.Sprintf("%+v", s)},
		{"%s", fmt.Sprintf("%s", s)},
		{"%q", fmt.Sprintf("%q", s)},
		{"%x", fmt.Sprintf("%x", s)},
		{"%X", fmt.Sprintf("%X", s)},
		{"%#v", fmt.Sprintf("%#v", s)},
		{"%d", fmt.Sprintf("%d", s)},
		{"Sprint", fmt.Sprint(s)},
		{"pointer %v", fmt.Sprintf("%v", &s)},
		{"exported field %+v", fmt.Sprintf("%+v", exported{s})},
		{"exported field %#v", fmt.Sprintf("%#v", exported{s})},
		{"unexported field %+v", fmt.Sprintf("%+v", unexported{s})},
		{"unexported field %#v", fmt.Sprintf("%#v", unexported{s})},
		{"Value %+v", fmt.Sprintf("%+v", value)},
		{"[]Value %v", fmt.Sprintf("%v", []sources.Value{value})},
		{"error %v", fmt.Errorf("wrapped: %v", s).Error()},
		{"json Secret", jsonOf(s)},
		{"json Value", jsonOf(value)},
		{"MarshalText", string(text)},
		{"slog text", slogOf(false)},
		{"slog json", slogOf(true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertNoSecret(t, tt.got, secretText)
			if tt.name != "unexported field %+v" && tt.name != "unexported field %#v" && !strings.Contains(tt.got, "[redacted]") {
				t.Errorf("output %q lacks [redacted]", tt.got)
			}
		})
	}
}

// assertNoSecret fails if out holds the value, its hex or its decimal byte
// rendering (what fmt prints for a []byte inside a struct).
func assertNoSecret(t *testing.T, out, value string) {
	t.Helper()
	for _, form := range []string{value, hex.EncodeToString([]byte(value)), fmt.Sprint([]byte(value))[1:12]} {
		if strings.Contains(out, form) {
			t.Fatalf("output leaks the value (%q): %s", form, out)
		}
	}
}
