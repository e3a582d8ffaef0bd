package sources_test

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/hushinit/hush/sources"
)

func TestIsRef(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"ref+file:///x":  true,
		"ref+":           true,
		"REF+file:///x":  false,
		"secretref+x://": false,
		"plain":          false,
		"":               false,
		" ref+file:///x": false,
	}
	for in, want := range tests {
		if got := sources.IsRef(in); got != want {
			t.Errorf("IsRef(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want sources.Ref // Raw and a nil Query are filled in by the test
	}{
		{"ref+file:///run/secrets/db", sources.Ref{Backend: "file", Path: "/run/secrets/db"}},
		{"ref+file://relative/path", sources.Ref{Backend: "file", Path: "relative/path"}},
		{"ref+file://./x", sources.Ref{Backend: "file", Path: "./x"}},
		{"ref+file:///run/secrets/app.json#/api/key", sources.Ref{Backend: "file", Path: "/run/secrets/app.json", Pointer: "/api/key"}},
		{"ref+file:///x#", sources.Ref{Backend: "file", Path: "/x"}},
		{"ref+file:///x#/", sources.Ref{Backend: "file", Path: "/x", Pointer: "/"}},
		// vals' form without the leading slash is the same pointer.
		{"ref+file:///x#a", sources.Ref{Backend: "file", Path: "/x", Pointer: "/a"}},
		{"ref+file:///x#foo/bar", sources.Ref{Backend: "file", Path: "/x", Pointer: "/foo/bar"}},
		{"ref+vault://secret/app#password+", sources.Ref{Backend: "vault", Path: "secret/app", Pointer: "/password"}},
		{"ref+file:///x#a~1b", sources.Ref{Backend: "file", Path: "/x", Pointer: "/a~1b"}},
		{"ref+file:///x#/a~1b/c~0d/0", sources.Ref{Backend: "file", Path: "/x", Pointer: "/a~1b/c~0d/0"}},
		{"ref+file:///x#/a%20b", sources.Ref{Backend: "file", Path: "/x", Pointer: "/a b"}},
		{"ref+file:///my%20secrets/db%2Bpw", sources.Ref{Backend: "file", Path: "/my secrets/db+pw"}},
		{"ref+file:///x+", sources.Ref{Backend: "file", Path: "/x"}},
		{"ref+file:///x#/k+", sources.Ref{Backend: "file", Path: "/x", Pointer: "/k"}},
		{"ref+file:///a+b", sources.Ref{Backend: "file", Path: "/a+b"}},
		{"ref+file:///x?optional=true", sources.Ref{Backend: "file", Path: "/x", Optional: true}},
		{"ref+file:///x?optional", sources.Ref{Backend: "file", Path: "/x", Optional: true}},
		{"ref+file:///x?optional=false", sources.Ref{Backend: "file", Path: "/x"}},
		{"ref+file:///x?as=file", sources.Ref{Backend: "file", Path: "/x", AsFile: true}},
		{"ref+file:///x?as=env", sources.Ref{Backend: "file", Path: "/x"}},
		{"ref+file:///x?as=file&optional=true#/k", sources.Ref{Backend: "file", Path: "/x", AsFile: true, Optional: true, Pointer: "/k"}},
		{"ref+file:///x?", sources.Ref{Backend: "file", Path: "/x"}},
		{"ref+vault://secret/myapp#/password", sources.Ref{Backend: "vault", Path: "secret/myapp", Pointer: "/password"}},
		{
			"ref+vault://database/creds/readonly?version=2&address=https%3A%2F%2Fv%3A8200#/username",
			sources.Ref{Backend: "vault", Path: "database/creds/readonly", Pointer: "/username",
				Query: url.Values{"version": {"2"}, "address": {"https://v:8200"}}},
		},
		{"ref+aws2://arn:aws:x/y?optional=true", sources.Ref{Backend: "aws2", Path: "arn:aws:x/y", Optional: true}},
		{"ref+vault://p?k=a+b", sources.Ref{Backend: "vault", Path: "p", Query: url.Values{"k": {"a b"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := sources.ParseRef(tt.in)
			if err != nil {
				t.Fatalf("ParseRef: %v", err)
			}
			want := tt.want
			want.Raw = tt.in
			if want.Query == nil {
				want.Query = url.Values{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ParseRef(%q)\n got %+v\nwant %+v", tt.in, got, want)
			}
			assertRoundTrip(t, got)
		})
	}
}

func TestParseRefErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, wantErr string
	}{
		{"plain", `starts with "ref+"`},
		{"ref+", "expected ref+BACKEND://PATH"},
		{"ref+file", "expected ref+BACKEND://PATH"},
		{"ref+file:/x", "expected ref+BACKEND://PATH"},
		{"ref+://x", "missing backend name"},
		{"ref+File:///x", `backend name "File"`},
		{"ref+my-backend:///x", `backend name "my-backend"`},
		{"ref+file://", "empty path"},
		{"ref+file://+", "empty path"},
		{"ref+file://?optional=true", "empty path"},
		{"ref+file://#/a", "empty path"},
		{"ref+file:///x%zz", "path: invalid URL escape"},
		{"ref+file:///x%00", "NUL"},
		{"ref+file:///x y", "whitespace"},
		{"ref+file:///x ", "whitespace"},
		{"ref+file:///x\n", "whitespace"},
		{"ref+file:///x\x7f", "control"},
		{"ref+file:///\xff", "UTF-8"},
		{"ref+file:///x?a=%zz", "query: invalid URL escape"},
		{"ref+file:///x?a=1;b=2", "query: invalid semicolon"},
		{"ref+file:///x?optional=maybe", `optional: "maybe" is not a boolean`},
		{"ref+file:///x?allow_empty=maybe", `allow_empty: "maybe" is not a boolean`},
		{"ref+file:///x?optional=true&optional=false", `"optional" given more than once`},
		{"ref+file:///x?as=tmp", `as="tmp": want one of file, env`},
		{"ref+file:///x?as=", `as="": want one of file, env`},
		{"ref+file:///x?as=file&as=file", `"as" given more than once`},
		{"ref+file:///x#/a~2", `"~" must be followed by 0 or 1`},
		{"ref+file:///x#/a~", `"~" must be followed by 0 or 1`},
		{"ref+file:///x#/a%zz", "fragment: invalid URL escape"},
		{"ref+file:///x++", ""}, // one '+' stripped: path "/x+" is fine
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := sources.ParseRef(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseRef(%q): unexpected error %v", tt.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseRef(%q): no error, want %q", tt.in, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRef(%q) = %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// A bad reference's error quotes it bounded, however long it is.
func TestParseErrorTruncatesLongInput(t *testing.T) {
	t.Parallel()
	in := "ref+file:///" + strings.Repeat("a", 10000) + " x"
	_, _, err := sources.Scan([]string{"X=" + in}, sources.ScanOptions{})
	if err == nil {
		t.Fatal("no error")
	}
	if len(err.Error()) > 400 {
		t.Errorf("error is %d bytes long", len(err.Error()))
	}
}

func TestRefString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ref  sources.Ref
		want string
	}{
		{sources.Ref{Backend: "file", Path: "/run/secrets/db"}, "ref+file:///run/secrets/db"},
		{sources.Ref{Backend: "file", Path: "rel/x"}, "ref+file://rel/x"},
		{sources.Ref{Backend: "file", Path: "/a b+c#d?e%f"}, "ref+file:///a%20b%2Bc%23d%3Fe%25f"},
		{sources.Ref{Backend: "file", Path: "/x", Optional: true, AsFile: true, Pointer: "/a b/~1"}, "ref+file:///x?as=file&optional=true#/a%20b/~1"},
		{sources.Ref{Backend: "vault", Path: "p", Query: url.Values{"z": {"1"}, "a": {"x y+"}}}, "ref+vault://p?a=x%20y%2B&z=1"},
	}
	for _, tt := range tests {
		if got := tt.ref.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
		assertRoundTrip(t, tt.ref)
	}
}

func TestGroup(t *testing.T) {
	t.Parallel()
	parse := func(s string) sources.Ref {
		r, err := sources.ParseRef(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	same := [][2]string{
		{"ref+vault://db/creds/ro#/username", "ref+vault://db/creds/ro#/password"},
		{"ref+vault://p?a=1&b=2", "ref+vault://p?b=2&a=1&optional=true"},
		{"ref+file:///x", "ref+file:///x?as=file+"},
	}
	for _, p := range same {
		if a, b := parse(p[0]).Group(), parse(p[1]).Group(); a != b {
			t.Errorf("%s and %s: groups differ: %+v, %+v", p[0], p[1], a, b)
		}
	}
	differ := [][2]string{
		{"ref+vault://p", "ref+file://p"},
		{"ref+vault://p", "ref+vault://q"},
		{"ref+vault://p?version=1", "ref+vault://p?version=2"},
	}
	for _, p := range differ {
		if a, b := parse(p[0]).Group(), parse(p[1]).Group(); a == b {
			t.Errorf("%s and %s: same group %+v", p[0], p[1], a)
		}
	}
}

func TestFileRef(t *testing.T) {
	t.Parallel()
	r := sources.FileRef("/run/secrets/my db")
	if r.Raw != "ref+file:///run/secrets/my%20db" || r.Backend != "file" || r.Path != "/run/secrets/my db" {
		t.Errorf("FileRef = %+v", r)
	}
	assertRoundTrip(t, r)
}

// assertRoundTrip checks that r's canonical rendering parses back to r.
func assertRoundTrip(t *testing.T, r sources.Ref) {
	t.Helper()
	s := r.String()
	back, err := sources.ParseRef(s)
	if err != nil {
		t.Fatalf("ParseRef(%q) of String(): %v", s, err)
	}
	if back.String() != s {
		t.Fatalf("String() not stable: %q then %q", s, back.String())
	}
	if r.Query == nil {
		r.Query = url.Values{}
	}
	back.Raw, r.Raw = "", ""
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip of %q\n got %+v\nwant %+v", s, back, r)
	}
}
