package sources_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hushinit/hush/sources"
)

const pointerDoc = `{
  "api": {"key": "k-123", "port": 8080, "tls": true, "none": null},
  "a/b": "slash", "m~n": "tilde", "~1": "tilde-one", "": "empty-key",
  "list": ["zero", {"x": "in-array"}, [1, 2]],
  "nested": {"obj": {"b": [1, "two"], "a": "x<&>"}},
  "pw": "line1\nline2\u0000end",
  "num": 1.50e3
}`

func TestApplyPointer(t *testing.T) {
	t.Parallel()
	tests := []pointerCase{
		{"", pointerDoc},
		{"/api/key", "k-123"},
		{"/api/port", "8080"},
		{"/api/tls", "true"},
		{"/api/none", "null"},
		{"/num", "1.50e3"},
		{"/a~1b", "slash"},
		{"/m~0n", "tilde"},
		{"/~01", "tilde-one"},
		{"/", "empty-key"},
		{"/list/0", "zero"},
		{"/list/1/x", "in-array"},
		{"/list/2", "[1,2]"},
		{"/list/2/1", "2"},
		{"/nested/obj", `{"b":[1,"two"],"a":"x<&>"}`},
		{"/nested/obj/a", "x<&>"},
		{"/pw", "line1\nline2\x00end"},
	}
	checkPointers(t, pointerDoc, tests)
}

// pointerCase is a pointer and the value it selects.
type pointerCase struct{ ptr, want string }

// checkPointers applies each pointer to doc, in a subtest of its own.
func checkPointers(t *testing.T, doc string, tests []pointerCase) {
	secret := sources.NewSecret([]byte(doc))
	for _, tt := range tests {
		t.Run(tt.ptr, func(t *testing.T) {
			t.Parallel()
			got, err := sources.ApplyPointer(secret, tt.ptr)
			if err != nil {
				t.Fatalf("ApplyPointer(%q): %v", tt.ptr, err)
			}
			if string(got.Bytes()) != tt.want {
				t.Errorf("ApplyPointer(%q) = %q, want %q", tt.ptr, got.Bytes(), tt.want)
			}
		})
	}
}

func TestApplyPointerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc, ptr, wantErr string
		notFound          bool
	}{
		{pointerDoc, "/nope", `the document has no member "nope"`, true},
		{pointerDoc, "/api/nope", `"/api" has no member "nope"`, true},
		{pointerDoc, "/list/3", `"/list" has no index 3 (length 3)`, true},
		{pointerDoc, "/list/99999999999999999999999", "has no index", true},
		{pointerDoc, "/list/-", `"-" names the element after the last`, false},
		{pointerDoc, "/list/01", `"01" is not an array index`, false},
		{pointerDoc, "/list/x", `"x" is not an array index`, false},
		{pointerDoc, "/list/", `"" is not an array index`, false},
		{pointerDoc, "/list/-1", `"-1" is not an array index`, false},
		{pointerDoc, "/api/key/x", `"/api/key" is a string, not an object or array`, false},
		{pointerDoc, "/api/port/x", `"/api/port" is a number`, false},
		{pointerDoc, "/api/none/x", `"/api/none" is a null`, false},
		{pointerDoc, "/api/tls/0", `"/api/tls" is a boolean`, false},
		{pointerDoc, "/a~1b/x", `"/a~1b" is a string`, false},
		{pointerDoc, "api", `must be empty or start with "/"`, false},
		{pointerDoc, "/a~2", `"~" must be followed by 0 or 1`, false},
		{`"top"`, "/x", "the document is a string", false},
		{`{"a": secretvalue`, "/a", "not valid JSON (syntax error at byte offset 7)", false},
		{``, "/a", "not valid JSON", false},
	}
	for _, tt := range tests {
		t.Run(tt.ptr, func(t *testing.T) {
			t.Parallel()
			_, err := sources.ApplyPointer(sources.NewSecret([]byte(tt.doc)), tt.ptr)
			if err == nil {
				t.Fatalf("ApplyPointer(%q): no error", tt.ptr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if got := errors.Is(err, sources.ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", got, tt.notFound)
			}
			for _, leak := range []string{"secretvalue", "trailing", "k-123", "not json"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error leaks document text %q: %v", leak, err)
				}
			}
		})
	}
}

// TestApplyPointerEmptyWholeDocument checks that without a pointer the
// document need not be JSON.
func TestApplyPointerEmptyWholeDocument(t *testing.T) {
	t.Parallel()
	doc := sources.NewSecret([]byte("not json at all"))
	got, err := sources.ApplyPointer(doc, "")
	if err != nil || string(got.Bytes()) != "not json at all" {
		t.Fatalf("ApplyPointer(doc, \"\") = %q, %v", got.Bytes(), err)
	}
}
