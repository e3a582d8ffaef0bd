package sources_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hushinit/hush/sources"
)

func TestScanEmbedded(t *testing.T) {
	t.Parallel()
	opts := scanOptions()
	opts.IsBackend = func(b string) bool { return b == "file" || b == "vault" }
	type part struct{ text, ref string }
	tests := []struct {
		name      string
		value     string
		wantPlain bool
		want      []part
		wantErr   string
	}{
		{name: "vals' URL form", value: "postgres://app:ref+vault://db/creds/app#/password+@db:5432/app",
			want: []part{{text: "postgres://app:"}, {ref: "ref+vault://db/creds/app#/password"}, {text: "@db:5432/app"}}},
		{name: "two references and text", value: "u=ref+file:///u+ p=ref+file:///p",
			want: []part{{text: "u="}, {ref: "ref+file:///u"}, {text: " p="}, {ref: "ref+file:///p"}}},
		{name: "reference at the end, no terminator", value: "Bearer ref+file:///token",
			want: []part{{text: "Bearer "}, {ref: "ref+file:///token"}}},
		{name: "adjacent references", value: "x-ref+file:///a+ref+file:///b+",
			want: []part{{text: "x-"}, {ref: "ref+file:///a"}, {ref: "ref+file:///b"}}},
		{name: "ref+ without a backend stays text", value: "postgres://u:ref+x@h", wantPlain: true},
		{name: "unknown backend stays text", value: "see ref+echo://hello", wantPlain: true},
		{name: "ref+ without :// stays text", value: "a ref+file is here", wantPlain: true},
		{name: "vals' secretref+ is refused", value: "secretref+file:///x", wantErr: `"secretref+" prefix is not read by hush: write "ref+"`},
		{name: "secretref+ inside is refused", value: "a=secretref+file:///x+ b", wantErr: `"secretref+" prefix is not read by hush`},
		{name: "secretref+ without a backend stays text", value: "a=secretref+nosuch://x", wantPlain: true},
		{name: "as=file inside is refused", value: "k=ref+file:///k?as=file+", wantErr: "?as=file cannot be part of a longer value"},
		{name: "optional inside is refused", value: "k=ref+file:///k?optional=true", wantErr: "?optional=true cannot be part"},
		{name: "a bad query inside is refused", value: "k=ref+file:///k?colour=red+", wantErr: `unknown query parameter "colour"`},
		{name: "an empty path inside is refused", value: "k=ref+file://+", wantErr: "empty path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plain, reqs, err := sources.Scan([]string{"V=" + tt.value}, opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "V: ") {
					t.Fatalf("err = %v, want one naming V with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantPlain {
				if len(plain) != 1 || len(reqs) != 0 {
					t.Fatalf("plain %q, requests %+v; want the value as it is", plain, reqs)
				}
				return
			}
			if len(reqs) != 1 || reqs[0].Name != "V" {
				t.Fatalf("requests %+v", reqs)
			}
			var got []part
			for _, p := range reqs[0].Parts {
				if p.Ref != nil {
					got = append(got, part{ref: p.Ref.Raw})
				} else {
					got = append(got, part{text: p.Text})
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("parts %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestResolveEmbedded: references inside a longer value are rendered in
// place, and share one read with whole references to the same secret.
func TestResolveEmbedded(t *testing.T) {
	t.Parallel()
	mem := newMem(map[string]string{"creds": `{"username":"u-1","password":"p-1"}`})
	r := &sources.Resolver{Backends: map[string]sources.Backend{"mem": mem}}
	_, reqs, err := sources.Scan([]string{
		"DB_USER=ref+mem://creds#/username",
		"DATABASE_URL=postgres://ref+mem://creds#/username+:ref+mem://creds#/password+@db:5432/app",
	}, sources.ScanOptions{IsBackend: r.HasBackend, ValidateRef: r.ValidateRef})
	if err != nil {
		t.Fatal(err)
	}
	vals, err := r.Resolve(context.Background(), reqs, sources.ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(vals[1].Secret.Bytes()); got != "postgres://u-1:p-1@db:5432/app" {
		t.Errorf("DATABASE_URL = %q", got)
	}
	if n := mem.totalReads(); n != 1 {
		t.Errorf("%d reads, want 1 for whole and embedded references to one secret", n)
	}
}

func TestResolveEmbeddedErrors(t *testing.T) {
	t.Parallel()
	mem := newMem(map[string]string{"doc": `{"a":"x","empty":""}`})
	r := &sources.Resolver{Backends: map[string]sources.Backend{"mem": mem}}
	_, reqs, err := sources.Scan([]string{"V=a=ref+mem://doc#/a+ b=ref+mem://doc#/missing+ c=ref+mem://doc#/empty+"},
		sources.ScanOptions{IsBackend: r.HasBackend, ValidateRef: r.ValidateRef})
	if err != nil {
		t.Fatal(err)
	}
	_, errs := r.ResolveEach(context.Background(), reqs, sources.ResolveOptions{})
	got := sources.Errors(errs[0])
	if len(got) != 2 || !strings.Contains(got[0].Error(), "V: ref+mem://doc#/missing: ") ||
		!strings.Contains(got[1].Error(), "V: ref+mem://doc#/empty: the value is empty") {
		t.Errorf("errors %q, want one per failed reference", got)
	}
}
