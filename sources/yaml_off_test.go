//go:build noyaml

package sources_test

import (
	"strings"
	"testing"

	"github.com/hushinit/hush/sources"
)

// In a build without YAML (bin/hush-files), a pointer into a document that
// is not JSON says so instead of reading it some other way.
func TestApplyPointerNoYAML(t *testing.T) {
	t.Parallel()
	_, err := sources.ApplyPointer(sources.NewSecret([]byte("db:\n  password: secret-in-yaml\n")), "/db/password")
	if err == nil || !strings.Contains(err.Error(), "reads JSON documents only (built with the noyaml tag") {
		t.Fatalf("err = %v, want the noyaml message", err)
	}
	if strings.Contains(err.Error(), "secret-in-yaml") {
		t.Errorf("error quotes the document: %v", err)
	}
	got, err := sources.ApplyPointer(sources.NewSecret([]byte(`{"db": {"password": "json"}}`)), "/db/password")
	if err != nil || string(got.Bytes()) != "json" {
		t.Errorf("JSON still works: %q, %v", got.Bytes(), err)
	}
}
