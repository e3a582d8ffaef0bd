package sources_test

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/hushinit/hush/sources"
)

// scanOptions knows the file and vault backends; vault accepts "version".
func scanOptions(patterns ...string) sources.ScanOptions {
	return sources.ScanOptions{
		FileEnvPatterns: patterns,
		ValidateRef: func(r sources.Ref) error {
			if r.Backend != "file" && r.Backend != "vault" {
				return fmt.Errorf("unknown backend %q", r.Backend)
			}
			for k := range r.Query {
				if r.Backend != "vault" || k != "version" {
					return fmt.Errorf("unknown query parameter %q", k)
				}
			}
			return nil
		},
	}
}

func TestScan(t *testing.T) {
	t.Parallel()
	type req struct{ Name, Ref, From string }
	tests := []struct {
		name      string
		environ   []string
		patterns  []string
		wantPlain []string
		wantReqs  []req
	}{
		{
			name:      "plain values pass through untouched",
			environ:   []string{"PATH=/bin", "EMPTY=", "NOEQ", "URL=postgres://u:ref+x@h", "SPACES= ref+file:///x", "=odd"},
			wantPlain: []string{"PATH=/bin", "EMPTY=", "NOEQ", "URL=postgres://u:ref+x@h", "SPACES= ref+file:///x", "=odd"},
		},
		{
			name:      "references become requests in order",
			environ:   []string{"A=ref+file:///a", "P=1", "B=ref+vault://s/b?version=2#/k"},
			wantPlain: []string{"P=1"},
			wantReqs:  []req{{"A", "ref+file:///a", ""}, {"B", "ref+vault://s/b?version=2#/k", ""}},
		},
		{
			name:      "last duplicate wins",
			environ:   []string{"A=ref+file:///old", "P=1", "A=ref+file:///new", "P=2"},
			wantPlain: []string{"P=2"},
			wantReqs:  []req{{"A", "ref+file:///new", ""}},
		},
		{
			name:      "_FILE ignored without a pattern",
			environ:   []string{"PID_FILE=/run/app.pid", "DB_PASSWORD_FILE=/run/secrets/db"},
			wantPlain: []string{"PID_FILE=/run/app.pid", "DB_PASSWORD_FILE=/run/secrets/db"},
		},
		{
			name:      "_FILE with a matching pattern",
			environ:   []string{"PID_FILE=/run/app.pid", "DB_PASSWORD_FILE=/run/secrets/db", "X=1"},
			patterns:  []string{"DB_*"},
			wantPlain: []string{"PID_FILE=/run/app.pid", "X=1"},
			wantReqs:  []req{{"DB_PASSWORD", "ref+file:///run/secrets/db", "DB_PASSWORD_FILE"}},
		},
		{
			name:      "_FILE with * and a relative path with a space",
			environ:   []string{"PID_FILE=run/my pid", "K_FILE=/k"},
			patterns:  []string{"*"},
			wantReqs:  []req{{"PID", "ref+file://run/my%20pid", "PID_FILE"}, {"K", "ref+file:///k", "K_FILE"}},
			wantPlain: nil,
		},
		{
			name:      "_FILE among several patterns, exact name",
			environ:   []string{"API_KEY_FILE=/k", "OTHER_FILE=/o"},
			patterns:  []string{"DB_*", "API_KEY"},
			wantPlain: []string{"OTHER_FILE=/o"},
			wantReqs:  []req{{"API_KEY", "ref+file:///k", "API_KEY_FILE"}},
		},
		{
			name:      "empty X counts as unset and is replaced",
			environ:   []string{"DB_PASSWORD=", "DB_PASSWORD_FILE=/run/secrets/db"},
			patterns:  []string{"DB_PASSWORD"},
			wantReqs:  []req{{"DB_PASSWORD", "ref+file:///run/secrets/db", "DB_PASSWORD_FILE"}},
			wantPlain: nil,
		},
		{
			name:      "empty X_FILE is removed and X kept",
			environ:   []string{"DB_PASSWORD=plain", "DB_PASSWORD_FILE="},
			patterns:  []string{"DB_PASSWORD"},
			wantPlain: []string{"DB_PASSWORD=plain"},
		},
		{
			name:      "X_FILE holding a reference is an ordinary reference",
			environ:   []string{"DB_PASSWORD_FILE=ref+vault://db#/pw?as=file"},
			patterns:  []string{"*"},
			wantReqs:  []req{{"DB_PASSWORD_FILE", "ref+vault://db#/pw?as=file", ""}},
			wantPlain: nil,
		},
		{
			name:      "bare _FILE has no target",
			environ:   []string{"_FILE=/x"},
			patterns:  []string{"*"},
			wantPlain: []string{"_FILE=/x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plain, reqs, err := sources.Scan(tt.environ, scanOptions(tt.patterns...))
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if !reflect.DeepEqual(plain, tt.wantPlain) {
				t.Errorf("plain = %q, want %q", plain, tt.wantPlain)
			}
			var got []req
			for _, r := range reqs {
				got = append(got, req{r.Name, r.Ref.Raw, r.From})
			}
			if !reflect.DeepEqual(got, tt.wantReqs) {
				t.Errorf("reqs = %+v, want %+v", got, tt.wantReqs)
			}
		})
	}
}

func TestScanErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		environ  []string
		patterns []string
		want     []string // each must appear, one per failed variable
		absent   []string // must not appear (values)
	}{
		{
			name:    "every bad variable is reported",
			environ: []string{"A=ref+file://", "B=ref+nope:///x", "C=ref+file:///x?foo=1", "D=ok", "E=ref+vault://p?version=1&x=2"},
			want: []string{
				"A: ref+file://: empty path",
				`B: ref+nope:///x: unknown backend "nope"`,
				`C: ref+file:///x?foo=1: unknown query parameter "foo"`,
				`E: ref+vault://p?version=1&x=2: unknown query parameter "x"`,
			},
		},
		{
			name:     "X and X_FILE both set",
			environ:  []string{"DB_PASSWORD=hunter2", "DB_PASSWORD_FILE=/run/secrets/db"},
			patterns: []string{"DB_*"},
			want:     []string{"DB_PASSWORD and DB_PASSWORD_FILE are both set"},
			absent:   []string{"hunter2"},
		},
		{
			name:     "bad pattern",
			environ:  []string{"A=1"},
			patterns: []string{"DB_[", "", "A=B"},
			want:     []string{`file-env pattern "DB_["`, "file-env pattern: empty", `file-env pattern "A=B"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plain, reqs, err := sources.Scan(tt.environ, scanOptions(tt.patterns...))
			if err == nil {
				t.Fatal("Scan: no error")
			}
			for _, r := range reqs {
				for _, w := range tt.want {
					if strings.HasPrefix(w, r.Name+":") {
						t.Errorf("%s is in error and still a request", r.Name)
					}
				}
			}
			_ = plain
			msg := err.Error()
			if lines := strings.Split(msg, "\n"); len(lines) != len(tt.want) {
				t.Errorf("error has %d lines, want %d:\n%s", len(lines), len(tt.want), msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(msg, a) {
					t.Errorf("error leaks %q:\n%s", a, msg)
				}
			}
		})
	}
}

func TestScanVarError(t *testing.T) {
	t.Parallel()
	_, _, err := sources.Scan([]string{"A=ref+file://"}, sources.ScanOptions{})
	var ve *sources.VarError
	if !errors.As(err, &ve) || ve.Name != "A" || ve.Ref != "ref+file://" {
		t.Fatalf("errors.As VarError: %v (%+v)", err, ve)
	}
}

func TestScanFileRefValidated(t *testing.T) {
	t.Parallel()
	opts := sources.ScanOptions{
		FileEnvPatterns: []string{"*"},
		ValidateRef:     func(r sources.Ref) error { return fmt.Errorf("unknown backend %q", r.Backend) },
	}
	_, _, err := sources.Scan([]string{"K_FILE=/k"}, opts)
	if err == nil || !strings.Contains(err.Error(), `K (from K_FILE): ref+file:///k: unknown backend "file"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestValidFileEnvPattern(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"*": true, "DB_*": true, "DB_PASSWORD": true, "DB_[A-Z]*": true, "?": true,
		"": false, "[": false, "DB_[": false, `\`: false, "A=B": false, "a/b": false, "A,B": false, "A B": false,
	}
	for p, ok := range tests {
		if err := sources.ValidFileEnvPattern(p); (err == nil) != ok {
			t.Errorf("ValidFileEnvPattern(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

// The query in a ref produced from X_FILE is never nil.
func TestScanFileRefQuery(t *testing.T) {
	t.Parallel()
	_, reqs, err := sources.Scan([]string{"K_FILE=/k"}, sources.ScanOptions{FileEnvPatterns: []string{"K"}})
	if err != nil || len(reqs) != 1 {
		t.Fatalf("Scan: %v %v", reqs, err)
	}
	if !reflect.DeepEqual(reqs[0].Ref.Query, url.Values{}) {
		t.Errorf("Query = %#v", reqs[0].Ref.Query)
	}
}
