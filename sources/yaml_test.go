//go:build !noyaml

package sources_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hushinit/hush/sources"
)

const yamlDoc = `# vals' README example, and more
db:
  password: "s3cr3t #not a comment"
  port: 5432
  hosts: [a, b]
  tls: {on: yes, ca: ~}
  issued: 2001-12-14t21:59:43.10-05:00
base: &base
  user: app
derived:
  <<: *base
  role: admin
cert: |
  -----BEGIN CERTIFICATE-----
  MIIB
  -----END CERTIFICATE-----
1: one
html: <&>
config: |
  {"nested": {"key": "json-in-yaml"}}
`

// TestApplyPointerYAML: a document that is not JSON is read as YAML with
// the library vals uses (gopkg.in/yaml.v3), strings as they are, other
// values as compact JSON.
func TestApplyPointerYAML(t *testing.T) {
	t.Parallel()
	tests := []pointerCase{
		{"/db/password", "s3cr3t #not a comment"},
		{"/db/port", "5432"},
		{"/db/hosts", `["a","b"]`},
		{"/db/hosts/1", "b"},
		{"/db/tls", `{"ca":null,"on":"yes"}`}, // YAML 1.2: yes is a string
		{"/db/tls/on", "yes"},
		{"/db/issued", "2001-12-14t21:59:43.10-05:00"}, // the text, not a time
		{"/derived/user", "app"},                       // merge keys
		{"/derived/role", "admin"},
		{"/cert", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
		{"/1", "one"},
		{"/html", "<&>"},
		{"/config/nested/key", "json-in-yaml"}, // a document in a string
	}
	checkPointers(t, yamlDoc, tests)
	if _, err := sources.ApplyPointer(sources.NewSecret([]byte(yamlDoc)), "/db/nope"); !errors.Is(err, sources.ErrNotFound) {
		t.Errorf("a missing YAML key: err = %v, want ErrNotFound", err)
	}
}

// TestApplyPointerIntoStringDocument: a Vault field or an Infisical value
// that holds a JSON or YAML document is entered when the pointer goes on;
// a string that holds no object or array is still a string.
func TestApplyPointerIntoStringDocument(t *testing.T) {
	t.Parallel()
	vault := `{"config": "db:\n  password: from-yaml\n", "json": "{\"k\": [\"v0\"]}", "plain": "just text", "scalar": "42"}`
	doc := sources.NewSecret([]byte(vault))
	for ptr, want := range map[string]string{
		"/config/db/password": "from-yaml",
		"/json/k/0":           "v0",
		"/config":             "db:\n  password: from-yaml\n", // the string itself when the pointer ends there
	} {
		got, err := sources.ApplyPointer(doc, ptr)
		if err != nil || string(got.Bytes()) != want {
			t.Errorf("ApplyPointer(%q) = %q, %v; want %q", ptr, got.Bytes(), err, want)
		}
	}
	for _, ptr := range []string{"/plain/x", "/scalar/x"} {
		_, err := sources.ApplyPointer(doc, ptr)
		if err == nil || !strings.Contains(err.Error(), "is a string, not an object or array") {
			t.Errorf("ApplyPointer(%q): err = %v, want is a string", ptr, err)
		}
	}
	if _, err := sources.ApplyPointer(doc, "/config/db/nope"); !errors.Is(err, sources.ErrNotFound) {
		t.Errorf("a missing key inside a string document: err = %v, want ErrNotFound", err)
	}
}

// TestApplyPointerYAMLErrors: what is neither JSON nor YAML is reported
// with both positions and nothing of the text.
func TestApplyPointerYAMLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ doc, wantErr string }{
		{`{"a": secretvalue`, "not valid JSON (syntax error at byte offset 7), and as YAML: error at line 1"},
		{"a: 1\n b: secretvalue\n", "and as YAML: error at line 2"},
		// YAML, but a single scalar: nothing to point into.
		{`not json secretvalue`, "the document is a string, not an object or array"},
		{``, "not valid JSON (syntax error at byte offset 0), and as YAML: empty document"},
		{"a: .inf", "and as YAML: it holds .inf or .nan"},
		{"a: !!binary /w==", "and as YAML: it holds binary data that is not UTF-8 text"},
		{"1: x\n1.0: y\n", "and as YAML: it holds keys that are the same once written as text"},
		{"a: &a [*a, *a]", "and as YAML"},
	}
	for _, tt := range tests {
		_, err := sources.ApplyPointer(sources.NewSecret([]byte(tt.doc)), "/a")
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ApplyPointer(%q): err = %v, want %q", tt.doc, err, tt.wantErr)
			continue
		}
		if strings.Contains(err.Error(), "secretvalue") || strings.Contains(err.Error(), "\n") {
			t.Errorf("error quotes the document or spans lines: %v", err)
		}
	}
}
