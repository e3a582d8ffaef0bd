package sources_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hushinit/hush/sources"
)

func mustParse(t *testing.T, s string) sources.Ref {
	t.Helper()
	r, err := sources.ParseRef(s)
	if err != nil {
		t.Fatalf("ParseRef(%q): %v", s, err)
	}
	return r
}

// requests builds requests from NAME=REF pairs.
func requests(t *testing.T, pairs ...string) []sources.Request {
	t.Helper()
	var reqs []sources.Request
	for _, p := range pairs {
		name, ref, _ := strings.Cut(p, "=")
		reqs = append(reqs, sources.Request{Name: name, Ref: mustParse(t, ref)})
	}
	return reqs
}

// waitResolve runs Resolve and fails the test if it does not return within
// a generous bound; the bound only catches hangs, it never paces the test.
func waitResolve(t *testing.T, ctx context.Context, r *sources.Resolver, reqs []sources.Request, opts sources.ResolveOptions) ([]sources.Value, error) {
	t.Helper()
	type result struct {
		v   []sources.Value
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := r.Resolve(ctx, reqs, opts)
		ch <- result{v, err}
	}()
	select {
	case res := <-ch:
		return res.v, res.err
	case <-time.After(10 * time.Second):
		t.Fatal("Resolve did not return")
		return nil, nil
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	mem := newMem(map[string]string{
		"app":   `{"user":"u1","password":"p1","port":5432,"tags":["a","b"]}`,
		"plain": "plain-value",
	})
	r := &sources.Resolver{Backends: map[string]sources.Backend{"mem": mem}}
	reqs := requests(t,
		"PORT=ref+mem://app#/port",
		"USER=ref+mem://app#/user",
		"PLAIN=ref+mem://plain",
		"GONE=ref+mem://missing?optional=true",
		"GONE_KEY=ref+mem://app?optional=true#/nope",
		"GONE_IDX=ref+mem://app?optional=true#/tags/2",
		"TAGS=ref+mem://app#/tags",
	)
	vals, err := waitResolve(t, context.Background(), r, reqs, sources.ResolveOptions{})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := []struct {
		name, value string
		missing     bool
	}{
		{"PORT", "5432", false}, {"USER", "u1", false}, {"PLAIN", "plain-value", false},
		{"GONE", "", true}, {"GONE_KEY", "", true}, {"GONE_IDX", "", true}, {"TAGS", `["a","b"]`, false},
	}
	if len(vals) != len(want) {
		t.Fatalf("got %d values, want %d", len(vals), len(want))
	}
	for i, w := range want {
		v := vals[i]
		if v.Name != w.name || string(v.Secret.Bytes()) != w.value || v.Missing != w.missing || v.Ref.Raw != reqs[i].Ref.Raw {
			t.Errorf("value %d = {%s %q missing=%v}, want {%s %q missing=%v}", i, v.Name, v.Secret.Bytes(), v.Missing, w.name, w.value, w.missing)
		}
	}
	if n := mem.totalReads(); n != 3 {
		t.Errorf("%d reads, want 3 (app, plain, missing)", n)
	}
}

func TestResolveEmpty(t *testing.T) {
	t.Parallel()
	r := &sources.Resolver{}
	vals, err := r.Resolve(context.Background(), nil, sources.ResolveOptions{})
	if err != nil || len(vals) != 0 {
		t.Fatalf("Resolve(nil) = %v, %v", vals, err)
	}
}

func TestResolveDedupe(t *testing.T) {
	t.Parallel()
	mem := newMem(map[string]string{"db/creds": `{"username":"u","password":"p"}`})
	r := &sources.Resolver{Backends: map[string]sources.Backend{"mem": mem}}
	reqs := requests(t,
		"DB_USER=ref+mem://db/creds#/username",
		"DB_PASSWORD=ref+mem://db/creds#/password",
		"DB_ALL=ref+mem://db/creds?as=file&optional=true",
		"DB_V2=ref+mem://db/creds?version=2#/password",
	)
	if _, err := waitResolve(t, context.Background(), r, reqs, sources.ResolveOptions{}); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if got := mem.reads["db/creds?"]; got != 1 {
		t.Errorf("db/creds read %d times, want 1", got)
	}
	if got := mem.reads["db/creds?version=2"]; got != 1 {
		t.Errorf("db/creds?version=2 read %d times, want 1", got)
	}
	if n := mem.totalReads(); n != 2 {
		t.Errorf("%d reads, want 2", n)
	}
}

func TestResolveConcurrencyBound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		maxConcurrent int
		groups        int
		want          int64
	}{
		{"explicit bound", 3, 10, 3},
		{"default bound", 0, 20, sources.DefaultMaxConcurrent},
		{"fewer groups than the bound", 8, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gate := newGate()
			r := &sources.Resolver{Backends: map[string]sources.Backend{"gate": gate}, MaxConcurrent: tt.maxConcurrent}
			var pairs []string
			for i := range tt.groups {
				pairs = append(pairs, fmt.Sprintf("V%d=ref+gate://p%d", i, i))
			}
			reqs := requests(t, pairs...)
			type result struct {
				vals []sources.Value
				err  error
			}
			done := make(chan result, 1)
			go func() {
				v, err := r.Resolve(context.Background(), reqs, sources.ResolveOptions{})
				done <- result{v, err}
			}()
			// Poll until the bound is reached, then let every read finish.
			deadline := time.Now().Add(10 * time.Second)
			for gate.inflight.Load() < tt.want {
				if time.Now().After(deadline) {
					t.Fatalf("only %d reads in flight, want %d", gate.inflight.Load(), tt.want)
				}
				time.Sleep(time.Millisecond)
			}
			close(gate.release)
			res := <-done
			if res.err != nil {
				t.Fatalf("Resolve: %v", res.err)
			}
			if got := gate.max.Load(); got != tt.want {
				t.Errorf("max in flight = %d, want %d", got, tt.want)
			}
			if got := gate.started.Load(); got != int64(tt.groups) {
				t.Errorf("%d reads, want %d", got, tt.groups)
			}
			if got := string(res.vals[1].Secret.Bytes()); got != "value of p1" {
				t.Errorf("V1 = %q", got)
			}
		})
	}
}

func TestResolveStartupDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		honourCtx     bool
		maxConcurrent int
		pairs         []string
		wantFailed    []string // prefixes of error lines
	}{
		{
			name:       "backend ignores ctx",
			pairs:      []string{"OK=ref+mem://ok", "HUNG=ref+gate://a", "BROKEN=ref+mem://nothing"},
			wantFailed: []string{"HUNG: ref+gate://a: no answer from the backend: context deadline exceeded", "BROKEN: ref+mem://nothing: no secret at"},
		},
		{
			name:       "backend honours ctx",
			honourCtx:  true,
			pairs:      []string{"OK=ref+mem://ok", "HUNG=ref+gate://a"},
			wantFailed: []string{"HUNG: ref+gate://a: "},
		},
		{
			name:          "read waiting for the concurrency bound",
			maxConcurrent: 1,
			pairs:         []string{"HUNG_1=ref+gate://a", "HUNG_2=ref+gate://b"},
			wantFailed:    []string{"HUNG_1: ref+gate://a: ", "HUNG_2: ref+gate://b: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gate := newGate()
			gate.honourCtx = tt.honourCtx
			t.Cleanup(func() { close(gate.release) })
			r := &sources.Resolver{
				Backends:      map[string]sources.Backend{"gate": gate, "mem": newMem(map[string]string{"ok": "fine"})},
				MaxConcurrent: tt.maxConcurrent,
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			vals, err := waitResolve(t, ctx, r, requests(t, tt.pairs...), sources.ResolveOptions{})
			if err == nil || vals != nil {
				t.Fatalf("Resolve = %v, %v; want an error", vals, err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error does not wrap DeadlineExceeded: %v", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.wantFailed) {
				t.Errorf("%d error lines, want %d:\n%s", len(lines), len(tt.wantFailed), err)
			}
			for _, w := range tt.wantFailed {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%s", w, err)
				}
			}
		})
	}
}

func TestResolveCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	mem := newMem(map[string]string{"ok": "fine"})
	r := &sources.Resolver{Backends: map[string]sources.Backend{"mem": mem}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := waitResolve(t, ctx, r, requests(t, "A=ref+mem://ok"), sources.ResolveOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestResolveUnknownBackend: Resolve trusts Scan's validation, but a
// request Scan never saw fails with an error instead of crashing hush.
func TestResolveUnknownBackend(t *testing.T) {
	t.Parallel()
	mem := newMem(map[string]string{"ok": "fine"})
	r := &sources.Resolver{Backends: map[string]sources.Backend{"mem": mem}}
	reqs := requests(t, "OK=ref+mem://ok", "UNKNOWN=ref+nope://x")
	vals, errs := r.ResolveEach(context.Background(), reqs, sources.ResolveOptions{})
	if errs[0] != nil || string(vals[0].Secret.Bytes()) != "fine" {
		t.Errorf("OK: %v", errs[0])
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), `UNKNOWN: ref+nope://x: unknown backend "nope"`) {
		t.Errorf("UNKNOWN: err = %v", errs[1])
	}
}

// TestResolveErrorsNeverContainValues resolves known values through every
// failing path and checks that no error carries any of them.
func TestResolveErrorsNeverContainValues(t *testing.T) {
	t.Parallel()
	const (
		badJSON  = `{"k": SECRET-IN-BAD-JSON`
		withNUL  = "SECRET-WITH\x00NUL"
		jsonDoc  = `{"str":"SECRET-STRING","nul":"SECRET\u0000X"}`
		bigMark  = "SECRET-IN-BIG-VALUE"
		notFound = "SECRET-NOTFOUND"
	)
	big := bigMark + strings.Repeat("x", sources.MaxSecretSize+1-len(bigMark))
	mem := newMem(map[string]string{"bad": badJSON, "nul": withNUL, "doc": jsonDoc, "big": big})
	r := &sources.Resolver{Backends: map[string]sources.Backend{
		"mem":  mem,
		"fail": errBackend{err: errors.New("permission denied")},
	}}
	reqs := requests(t,
		"BAD_JSON=ref+mem://bad#/k",
		"NUL_ENV=ref+mem://nul",
		"NUL_PTR=ref+mem://doc#/nul",
		"INTO_STRING=ref+mem://doc#/str/x",
		"TOO_BIG=ref+mem://big",
		"MISSING=ref+mem://"+notFound,
		"MISSING_KEY=ref+mem://doc#/nokey",
		"DENIED=ref+fail://x?optional=true",
		"FINE=ref+mem://doc#/str",
	)
	_, err := waitResolve(t, context.Background(), r, reqs, sources.ResolveOptions{})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	lines := strings.Split(msg, "\n")
	if len(lines) != 8 {
		t.Errorf("%d error lines, want 8 (one per failed variable):\n%s", len(lines), msg)
	}
	for _, w := range []string{
		"BAD_JSON: ref+mem://bad#/k: document is not valid JSON (syntax error at byte offset 7)",
		"NUL_ENV: ref+mem://nul: value contains a NUL byte",
		"NUL_PTR: ref+mem://doc#/nul: value contains a NUL byte",
		`INTO_STRING: ref+mem://doc#/str/x: JSON pointer "/str/x": "/str" is a string`,
		"TOO_BIG: ref+mem://big: value is 1048577 bytes, over the 1048576-byte limit",
		"MISSING: ref+mem://SECRET-NOTFOUND: no secret at",
		`MISSING_KEY: ref+mem://doc#/nokey: JSON pointer "/nokey": the document has no member "nokey"`,
		"DENIED: ref+fail://x?optional=true: permission denied",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
	// The one reference that names its secret is allowed to repeat it;
	// every other marker is a value and must be absent.
	for _, v := range []string{"SECRET-IN-BAD-JSON", "SECRET-WITH", "SECRET-STRING", "SECRET\x00", bigMark, "xxxxxxxx"} {
		if strings.Contains(msg, v) {
			t.Errorf("error leaks %q:\n%s", v, msg)
		}
	}
	if strings.Contains(msg, "FINE") {
		t.Errorf("error names a resolved variable")
	}
	var ve *sources.VarError
	if !errors.As(err, &ve) {
		t.Errorf("no *VarError in %T", err)
	}
}

func TestResolveLimits(t *testing.T) {
	t.Parallel()
	exact := strings.Repeat("a", sources.MaxSecretSize)
	mem := newMem(map[string]string{
		"exact": exact,
		"over":  exact + "a",
		"nul":   "a\x00b",
		"empty": "",
	})
	r := &sources.Resolver{Backends: map[string]sources.Backend{"mem": mem}}
	fileOnly := sources.ResolveOptions{EnvDelivery: func(sources.Request) bool { return false }}
	tests := []struct {
		name, ref string
		opts      sources.ResolveOptions
		wantErr   string
	}{
		{"exactly 1 MiB", "ref+mem://exact", sources.ResolveOptions{}, ""},
		{"1 MiB + 1", "ref+mem://over", sources.ResolveOptions{}, "over the 1048576-byte limit"},
		{"1 MiB + 1 as a file", "ref+mem://over?as=file", sources.ResolveOptions{}, "over the 1048576-byte limit"},
		{"NUL in env", "ref+mem://nul", sources.ResolveOptions{}, "NUL byte"},
		{"NUL as=file", "ref+mem://nul?as=file", sources.ResolveOptions{}, ""},
		{"NUL with file delivery", "ref+mem://nul", fileOnly, ""},
		{"NUL with as=file even if EnvDelivery says env", "ref+mem://nul?as=file",
			sources.ResolveOptions{EnvDelivery: func(sources.Request) bool { return true }}, ""},
		{"empty value", "ref+mem://empty", sources.ResolveOptions{}, "the value is empty"},
		{"empty value allowed", "ref+mem://empty?allow_empty=true", sources.ResolveOptions{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vals, err := waitResolve(t, context.Background(), r, requests(t, "V="+tt.ref), tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if vals[0].Missing {
					t.Errorf("value marked missing")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestResolveEnvDeliveryGetsRequest(t *testing.T) {
	t.Parallel()
	mem := newMem(map[string]string{"nul": "a\x00b"})
	r := &sources.Resolver{Backends: map[string]sources.Backend{"mem": mem}}
	opts := sources.ResolveOptions{EnvDelivery: func(req sources.Request) bool { return req.Name != "AS_FILE" }}
	_, err := waitResolve(t, context.Background(), r, requests(t, "AS_FILE=ref+mem://nul", "AS_ENV=ref+mem://nul"), opts)
	if err == nil || strings.Contains(err.Error(), "AS_FILE") || !strings.Contains(err.Error(), "AS_ENV") {
		t.Fatalf("err = %v, want only AS_ENV to fail", err)
	}
}

func TestResolveOptionalOnlyForNotFound(t *testing.T) {
	t.Parallel()
	mem := newMem(map[string]string{"doc": `{"s":"x"}`})
	r := &sources.Resolver{Backends: map[string]sources.Backend{"mem": mem}}
	_, err := waitResolve(t, context.Background(), r, requests(t, "A=ref+mem://doc?optional=true#/s/0"), sources.ResolveOptions{})
	if err == nil {
		t.Fatal("optional reference with a type error resolved")
	}
}

func TestResolveLogsNoValues(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mem := newMem(map[string]string{"doc": `{"pw":"LOGGED-SECRET"}`})
	r := &sources.Resolver{Backends: map[string]sources.Backend{"mem": mem}, Logger: logger}
	if _, err := waitResolve(t, context.Background(), r, requests(t, "PW=ref+mem://doc#/pw"), sources.ResolveOptions{}); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	out := buf.String()
	if !strings.Contains(out, "PW") || !strings.Contains(out, "path=doc") {
		t.Errorf("debug log lacks the variable or path:\n%s", out)
	}
	if strings.Contains(out, "LOGGED-SECRET") {
		t.Errorf("debug log leaks the value:\n%s", out)
	}
}

func TestResolverHelpers(t *testing.T) {
	t.Parallel()
	r := &sources.Resolver{Backends: map[string]sources.Backend{"mem": newMem(nil)}}
	if err := r.ValidateRef(mustParse(t, "ref+mem://x?version=3")); err != nil {
		t.Errorf("ValidateRef: %v", err)
	}
	// Scan with the resolver's own validation.
	_, _, err := sources.Scan([]string{"A=ref+mem://x?bad=1", "B=ref+file:///x"},
		sources.ScanOptions{ValidateRef: r.ValidateRef})
	if err == nil || !strings.Contains(err.Error(), `A: ref+mem://x?bad=1: unknown query parameter "bad"`) ||
		!strings.Contains(err.Error(), `B: ref+file:///x: unknown backend "file"`) || !strings.Contains(err.Error()[strings.Index(err.Error(), "B: "):], "mem") {
		t.Errorf("Scan err = %v", err)
	}
}
