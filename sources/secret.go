package sources

import (
	"fmt"
	"log/slog"

	"github.com/hushinit/hush/internal/digest"
)

// redacted is what every formatting path of a Secret prints.
const redacted = "[redacted]"

// Secret holds a resolved value. It prints as "[redacted]" through fmt (all
// verbs), log/slog, encoding/json and encoding.TextMarshaler; Bytes is the
// only way to the value.
//
// The value sits behind a pointer so that even reflection-based printing of a
// struct holding a Secret in an unexported field (where fmt cannot call
// methods) shows an address rather than the bytes.
type Secret struct {
	v *secretValue
}

type secretValue struct {
	b []byte
}

// NewSecret wraps b. The Secret takes ownership of b: the caller must not
// modify it afterwards.
func NewSecret(b []byte) Secret {
	return Secret{v: &secretValue{b: b}}
}

// Bytes returns the value. The slice is shared, not copied, so callers must
// not modify it.
func (s Secret) Bytes() []byte {
	if s.v == nil {
		return nil
	}
	return s.v.b
}

// Len returns the length of the value in bytes.
func (s Secret) Len() int { return len(s.Bytes()) }

// Digest returns the SHA-256 of the value, for change detection. It never
// leaves hush's memory: printed, a digest of a short secret lets it be
// searched offline. (internal/digest, not crypto/sha256: see its package
// comment for the size this saves.)
func (s Secret) Digest() [digest.Size]byte { return digest.Sum256(s.Bytes()) }

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb, including %x and %q
// which would otherwise bypass String, prints the placeholder.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
