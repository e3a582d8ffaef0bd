package sources_test

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/hushinit/hush/sources"
)

// FuzzParseRef checks that parsing never panics, that errors stay on one
// line, and that a parsed reference survives String and ParseRef unchanged.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{
		"ref+file:///run/secrets/db",
		"ref+file://rel/x?optional=true&as=file#/a~1b/0+",
		"ref+vault://secret/app?version=2&k=a+b#/pw",
		"ref+file:///a%20b%2B#/%7E0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := sources.ParseRef(in)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("multi-line error for %q: %q", in, err)
			}
			return
		}
		if r.Raw != in || r.Query == nil {
			t.Fatalf("Raw=%q Query=%v for %q", r.Raw, r.Query, in)
		}
		s := r.String()
		back, err := sources.ParseRef(s)
		if err != nil {
			t.Fatalf("ParseRef(%q) ok but its String %q fails: %v", in, s, err)
		}
		if back.String() != s {
			t.Fatalf("String not stable: %q -> %q -> %q", in, s, back.String())
		}
		back.Raw = r.Raw
		if !reflect.DeepEqual(back, r) && !(len(back.Query) == 0 && len(r.Query) == 0) {
			t.Fatalf("round trip of %q via %q:\n got %+v\nwant %+v", in, s, back, r)
		}
		if back.Group() != r.Group() {
			t.Fatalf("group changed: %+v vs %+v", back.Group(), r.Group())
		}
	})
}

// FuzzApplyPointer checks that pointer evaluation never panics and never
// quotes a document it cannot use.
func FuzzApplyPointer(f *testing.F) {
	f.Add(`{"a":{"b":[1,"x"]}}`, "/a/b/1")
	f.Add(`{"a~/":"v"}`, "/a~0~1")
	f.Add(`[0,1]`, "/01")
	f.Add(`{"a": zz}`, "/a")
	f.Add("a:\n  b: [x, {c: d}]\n", "/a/b/1/c")
	f.Add("a: &x [1, *x]\nb: <<: *x", "/a/1")
	f.Add(`{"s": "k: v"}`, "/s/k")
	f.Fuzz(func(t *testing.T, doc, ptr string) {
		got, err := sources.ApplyPointer(sources.NewSecret([]byte(doc)), ptr)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("multi-line error: %q", err)
			}
			// The message may repeat the pointer, never the document: strip
			// the pointer's text and look for any long piece of the doc.
			msg := strings.ReplaceAll(err.Error(), ptr, "")
			if len(doc) >= 12 && !strings.Contains(ptr, doc) && strings.Contains(msg, doc) {
				t.Fatalf("error quotes the document: %q", err)
			}
			return
		}
		if ptr == "" && string(got.Bytes()) != doc {
			t.Fatalf("empty pointer changed the document")
		}
	})
}

// TestRoundTripQueryNeverNil documents the contract FuzzParseRef relies on.
func TestRoundTripQueryNeverNil(t *testing.T) {
	t.Parallel()
	r := mustParse(t, "ref+file:///x")
	if !reflect.DeepEqual(r.Query, url.Values{}) {
		t.Fatalf("Query = %#v", r.Query)
	}
}

// FuzzScanEmbedded checks that finding references inside a longer value
// never panics, keeps errors on one line, and loses no literal text: the
// parts put back together, with each reference's text and its "+", give
// the value again.
func FuzzScanEmbedded(f *testing.F) {
	for _, s := range []string{
		"postgres://app:ref+file:///pw+@db:5432/app",
		"u=ref+file:///u+;p=ref+file:///p",
		"x ref+file://+ y ref+nope://z ref+file:/// ref+",
		"ref+file:///a+ref+file:///b",
	} {
		f.Add(s)
	}
	opts := sources.ScanOptions{IsBackend: func(b string) bool { return b == "file" }}
	f.Fuzz(func(t *testing.T, value string) {
		if strings.HasPrefix(value, "ref+") || strings.ContainsAny(value, "=\x00") {
			return // a whole reference, or not one value
		}
		plain, reqs, err := sources.Scan([]string{"V=" + value}, opts)
		if err != nil {
			for _, e := range sources.Errors(err) {
				if strings.ContainsAny(e.Error(), "\n\r") {
					t.Fatalf("multi-line error: %q", e)
				}
			}
			return
		}
		if len(reqs) == 0 {
			if len(plain) != 1 || plain[0] != "V="+value {
				t.Fatalf("plain %q for %q", plain, value)
			}
			return
		}
		var b strings.Builder
		for _, p := range reqs[0].Parts {
			if p.Ref == nil {
				b.WriteString(p.Text)
				continue
			}
			b.WriteString(p.Ref.Raw)
			if b.Len() >= len(value) || value[b.Len()] != '+' {
				continue // a reference that ran to the end of the value
			}
			b.WriteByte('+')
		}
		if b.String() != value {
			t.Fatalf("parts of %q put back together give %q", value, b.String())
		}
	})
}
