package sources

import "fmt"

// ParseRef is parseRef with the reference in its errors, for the external
// tests (hush itself parses references only through Scan).
func ParseRef(value string) (Ref, error) {
	r, err := parseRef(value)
	if err != nil {
		return Ref{}, fmt.Errorf("%s: %w", displayRef(value), err)
	}
	return r, nil
}
