package shim

import (
	"strings"
	"testing"
)

// FuzzParseListen: any --listen value either parses into an address hush
// can open, with a name LISTEN_FDNAMES can carry, or is refused with an
// error naming it; it never panics.
func FuzzParseListen(f *testing.F) {
	for _, s := range []string{
		"tcp://0.0.0.0:8080", "tcp://[::]:80?name=web", "unix:///run/a.sock?mode=0600",
		"tcp://:0", "unix://x", "tcp://[::1", "%zz", "tcp://:80?name=a:b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		spec, err := ParseListen(in)
		if err != nil {
			return
		}
		if spec.Network != "tcp" && spec.Network != "unix" {
			t.Fatalf("ParseListen(%q): network %q", in, spec.Network)
		}
		if spec.Name == "" || strings.Contains(spec.Name, ":") || validFDName(spec.Name) != nil {
			t.Fatalf("ParseListen(%q): name %q cannot go into LISTEN_FDNAMES", in, spec.Name)
		}
		if spec.Mode&^0o777 != 0 {
			t.Fatalf("ParseListen(%q): mode %o", in, spec.Mode)
		}
	})
}
