package plan

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hushinit/hush/shim"
	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/delivery"
	"github.com/hushinit/hush/sources/rotation"
)

// mem is a backend serving documents from a map; it reports creds as the
// credentials it used.
type mem struct {
	docs  map[string]string
	creds []string
}

func (m *mem) Read(_ context.Context, path string, _ url.Values) (sources.Secret, error) {
	doc, ok := m.docs[path]
	if !ok {
		return sources.Secret{}, sources.NotFound(fmt.Errorf("no secret at %q", path))
	}
	return sources.NewSecret([]byte(doc)), nil
}

func (m *mem) UsedCredentials() []string { return m.creds }

func newPlan(t *testing.T, cfg Config) *Plan {
	t.Helper()
	if cfg.StartupTimeout == 0 {
		cfg.StartupTimeout = time.Minute
	}
	p := New(cfg)
	t.Cleanup(p.Close)
	return p
}

func prepare(t *testing.T, p *Plan) []string {
	t.Helper()
	env, err := p.Prepare(context.Background())
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return env
}

func TestEnvironmentScrubs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/token", []byte("token-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	backend := &mem{docs: map[string]string{"db": "pw"}, creds: []string{"MEM_TOKEN", "MEM_SECRET_FILE"}}
	tests := []struct {
		name    string
		environ []string
		fileEnv []string
		keep    []string
		want    []string
	}{
		{
			name:    "HUSH_* settings never reach the child",
			environ: []string{"HUSH_DEBOUNCE=1s", "PATH=/bin", "HUSH_=y", "HUSHX=1", "hush_x=2", "HUSH_FLAG"},
			want:    []string{"PATH=/bin", "HUSHX=1", "hush_x=2"},
		},
		{
			name:    "keep-env keeps a HUSH_ name",
			environ: []string{"HUSH_KEEP=1", "HUSH_DROP=2"},
			keep:    []string{"HUSH_KEEP"},
			want:    []string{"HUSH_KEEP=1"},
		},
		{
			name:    "a credential the backend used is removed, another manager's is not",
			environ: []string{"MEM_TOKEN=t", "VAULT_TOKEN=app's", "DB=ref+mem://db"},
			want:    []string{"VAULT_TOKEN=app's", "DB=pw"},
		},
		{
			name:    "keep-env keeps a used credential",
			environ: []string{"MEM_TOKEN=t", "DB=ref+mem://db"},
			keep:    []string{"MEM_TOKEN"},
			want:    []string{"MEM_TOKEN=t", "DB=pw"},
		},
		{
			name:    "_FILE never makes a HUSH_ variable",
			environ: []string{"HUSH_VAULT_TOKEN_FILE=" + dir + "/token", "HUSH_VAULT_SECRET_ID_FILE=" + dir + "/token"},
			fileEnv: []string{"*"},
			want:    nil,
		},
		{
			name:    "_FILE of a used credential is that credential",
			environ: []string{"MEM_SECRET_FILE=" + dir + "/token", "APP_FILE=" + dir + "/token"},
			fileEnv: []string{"*"},
			want:    []string{"APP=token-value"},
		},
		{
			name:    "a reference in a HUSH_ variable is not read",
			environ: []string{"HUSH_X=ref+mem://nowhere"},
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPlan(t, Config{
				Environ:  tt.environ,
				Backends: map[string]sources.Backend{"mem": backend, "file": fileReader{}},
				FileEnv:  tt.fileEnv,
				KeepEnv:  tt.keep,
			})
			if got := prepare(t, p); !slices.Equal(got, tt.want) {
				t.Errorf("environment %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewReportsEveryBadReference(t *testing.T) {
	t.Parallel()
	p := newPlan(t, Config{
		Environ: []string{
			"A=ref+mem://missing-a", "B=ref+mem://missing-b", "C=ref+nope://x", "D=ref+mem://db",
			strings.Repeat("L", 300) + "=ref+mem://db?as=file",
		},
		Backends: map[string]sources.Backend{"mem": &mem{docs: map[string]string{"db": "pw"}}},
	})
	_, err := p.Prepare(context.Background())
	errs := sources.Errors(err)
	if len(errs) != 4 {
		t.Fatalf("%d errors, want 4 (A, B, C, the long name):\n%v", len(errs), err)
	}
	// The message lists the backends the build has.
	if !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error()[strings.Index(err.Error(), `"nope"`):], "mem") {
		t.Errorf("the unknown backend's error does not list the build's backends:\n%v", err)
	}
	for _, want := range []string{`A: ref+mem://missing-a: no secret`, `B: ref+mem://missing-b: no secret`,
		`C: ref+nope://x: unknown backend "nope"`, "too long for a file name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

// fileReader reads absolute paths, like the file backend.
type fileReader struct{}

func (fileReader) Read(_ context.Context, path string, _ url.Values) (sources.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return sources.Secret{}, err
	}
	return sources.NewSecret(bytes.TrimSuffix(b, []byte("\n"))), nil
}

func TestExecLimits(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 120_000)
	docs := map[string]string{"big": big, "huge": strings.Repeat("y", 200_000)}
	var environ []string
	for i := range 60 {
		environ = append(environ, fmt.Sprintf("V%02d=ref+mem://big", i))
	}
	tests := []struct {
		name    string
		environ []string
		files   bool
		want    string // "" means no error
	}{
		{"one string over 128 KiB", []string{"H=ref+mem://huge"}, false, "H: too large for an environment variable"},
		{"the same as a file", []string{"H=ref+mem://huge"}, true, ""},
		{"60 x 120 KB over the total", environ, false, "deliver the largest secrets as files"},
		{"60 x 120 KB as files", environ, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPlan(t, Config{
				Environ:      tt.environ,
				Backends:     map[string]sources.Backend{"mem": &mem{docs: docs}},
				DeliverFiles: tt.files,
			})
			env, err := p.Prepare(context.Background())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "as=file") {
				t.Fatalf("Prepare = %d variables, %v; want an error with %q and the as=file advice", len(env), err, tt.want)
			}
			if strings.Contains(err.Error(), big[:64]) {
				t.Errorf("the error quotes a value")
			}
		})
	}
}

// TestEnvironmentChecksBeforeWriting: a set of values that cannot be
// delivered leaves the files as they were.
func TestEnvironmentChecksBeforeWriting(t *testing.T) {
	t.Parallel()
	skipWithoutShm(t)
	p := newPlan(t, Config{
		Environ:  []string{"F=ref+mem://f?as=file", "E=ref+mem://e"},
		Backends: map[string]sources.Backend{"mem": &mem{docs: map[string]string{"f": "old-file", "e": "small"}}},
	})
	env := prepare(t, p)
	path := strings.TrimPrefix(env[0], "F=")
	next := slices.Clone(p.current)
	next[0].Secret = sources.NewSecret([]byte("new-file"))
	next[1].Secret = sources.NewSecret([]byte(strings.Repeat("z", 200_000)))
	if _, err := p.Environment(next); err == nil {
		t.Fatal("Environment accepted a 200 KB variable")
	}
	if b, _ := os.ReadFile(path); string(b) != "old-file" {
		t.Errorf("the file holds %q after a refused update, want the old value", b)
	}
}

// closing is a backend whose Close looks at a secret file: it stands for a
// backend's last goroutine, which must have ended before the files go.
type closing struct {
	mem
	path         string
	fileAtClose  bool
	closedBefore bool
}

func (c *closing) Close(context.Context) error {
	_, err := os.Stat(c.path)
	c.fileAtClose, c.closedBefore = err == nil, true
	return nil
}

// TestCloseRemovesFilesAfterBackends: Close closes the backends — which
// join their goroutines — before it removes the secret files.
func TestCloseRemovesFilesAfterBackends(t *testing.T) {
	t.Parallel()
	skipWithoutShm(t)
	backend := &closing{mem: mem{docs: map[string]string{"f": "value"}}}
	p := New(Config{
		Environ:        []string{"F=ref+mem://f?as=file"},
		Backends:       map[string]sources.Backend{"mem": backend},
		StartupTimeout: time.Minute,
	})
	env := prepare(t, p)
	backend.path = strings.TrimPrefix(env[0], "F=")
	p.Close()
	if !backend.closedBefore || !backend.fileAtClose {
		t.Errorf("backend closed: %v, with the secret file still there: %v; want both", backend.closedBefore, backend.fileAtClose)
	}
	if _, err := os.Stat(backend.path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secret file after Close: %v, want it removed", err)
	}
}

func skipWithoutShm(t *testing.T) {
	t.Helper()
	d, err := delivery.Open("", os.Getuid(), os.Getgid())
	if err != nil {
		t.Skipf("no tmpfs for secret files here: %v", err)
	}
	d.Close()
}

func TestRequestFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		onChange OnChange
		kind     shim.RequestKind
		withEnv  bool
		none     bool
	}{
		{OnChange{Action: ActionRestart}, shim.Restart, true, false},
		{OnChange{}, shim.Restart, true, false},
		{OnChange{Action: ActionRolling}, shim.Roll, true, false},
		{OnChange{Action: ActionSignal, Signal: syscall.SIGHUP}, shim.Signal, false, false},
		{OnChange{Action: ActionExit}, shim.Stop, false, false},
		{OnChange{Action: ActionNone}, 0, false, true},
		{OnChange{Action: "bogus"}, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.onChange.Action, func(t *testing.T) {
			t.Parallel()
			p := newPlan(t, Config{
				Environ:  []string{"A=ref+mem://a", "P=1"},
				Backends: map[string]sources.Backend{"mem": &mem{docs: map[string]string{"a": "old"}}},
				OnChange: tt.onChange,
			})
			prepare(t, p)
			next := slices.Clone(p.current)
			next[0].Secret = sources.NewSecret([]byte("new"))
			detected := time.Now()
			req, ok := p.requestFor(rotation.Update{Values: next, Changed: []string{"A"}, Detected: detected})
			if ok == tt.none {
				t.Fatalf("requestFor ok = %v", ok)
			}
			if tt.none {
				return
			}
			if req.Kind != tt.kind || req.Reason != "A" || !req.Since.Equal(detected) {
				t.Errorf("request %+v", req)
			}
			if tt.kind == shim.Signal && req.Signal != syscall.SIGHUP {
				t.Errorf("signal %v", req.Signal)
			}
			if tt.withEnv && !slices.Equal(req.Env, []string{"P=1", "A=new"}) {
				t.Errorf("env %q", req.Env)
			}
		})
	}
}

// TestRequestForUndeliverable: a change that cannot be delivered asks
// nothing of the child and keeps the current values.
func TestRequestForUndeliverable(t *testing.T) {
	t.Parallel()
	p := newPlan(t, Config{
		Environ:  []string{"A=ref+mem://a"},
		Backends: map[string]sources.Backend{"mem": &mem{docs: map[string]string{"a": "old"}}},
	})
	prepare(t, p)
	before := p.current
	next := slices.Clone(p.current)
	next[0].Secret = sources.NewSecret([]byte(strings.Repeat("z", 200_000)))
	if req, ok := p.requestFor(rotation.Update{Values: next, Changed: []string{"A"}}); ok {
		t.Fatalf("requestFor = %+v for an environment execve would refuse", req)
	}
	if string(p.current[0].Secret.Bytes()) != "old" || &before[0] != &p.current[0] {
		t.Errorf("the current values changed")
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	backend := &mem{docs: map[string]string{"pin": "123456"}}
	p := newPlan(t, Config{
		Environ:  []string{"PIN=ref+mem://pin", "GONE=ref+mem://gone?optional=true", "BAD=ref+mem://bad"},
		Backends: map[string]sources.Backend{"mem": backend},
	})
	var out bytes.Buffer
	err := p.Check(context.Background(), &out, nil)
	if len(sources.Errors(err)) != 1 || !strings.Contains(err.Error(), "BAD: ref+mem://bad") {
		t.Errorf("err = %v, want one error for BAD", err)
	}
	for _, want := range []string{"PIN mem pin ok env", "GONE mem gone missing (optional) env", "BAD mem bad error env"} {
		if !strings.Contains(collapse(out.String()), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "6 ") || strings.Contains(out.String(), "8d969eef") {
		t.Errorf("table gives a length or a plain digest:\n%s", out.String())
	}

	out.Reset()
	if err := p.Check(context.Background(), &out, []byte("short")); err == nil || !strings.Contains(err.Error(), "fewer than 16") {
		t.Errorf("short key: err = %v", err)
	}
	key := []byte("0123456789abcdef")
	out.Reset()
	_ = p.Check(context.Background(), &out, key)
	first := out.String()
	out.Reset()
	_ = p.Check(context.Background(), &out, key)
	if first != out.String() || !strings.Contains(first, "HMAC-SHA256") {
		t.Errorf("keyed digests differ between runs or are missing:\n%s\n%s", first, out.String())
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("123456"))
	if want := hex.EncodeToString(mac.Sum(nil)[:8]); !strings.HasSuffix(strings.TrimSpace(pinLine(first)), " "+want) {
		t.Errorf("PIN's digest is not the first 8 bytes of crypto/hmac's HMAC-SHA256 (%s): %q", want, pinLine(first))
	}
	out.Reset()
	_ = p.Check(context.Background(), &out, []byte("another key of 16+ bytes"))
	if pinLine(first) == pinLine(out.String()) {
		t.Errorf("two keys gave the same digest: %q", pinLine(first))
	}
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func pinLine(table string) string {
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, "PIN") {
			return l
		}
	}
	return ""
}

func TestPrepareJoinsScanAndReadErrors(t *testing.T) {
	t.Parallel()
	p := newPlan(t, Config{
		Environ:  []string{"X=ref+file:", "Y=ref+mem://nope"},
		Backends: map[string]sources.Backend{"mem": &mem{}},
	})
	_, err := p.Prepare(context.Background())
	var ve *sources.VarError
	if !errors.As(err, &ve) || len(sources.Errors(err)) != 2 {
		t.Fatalf("err = %v", err)
	}
}

// TestFileErrorNamesVariableOnce: "X: X: write secret file" said the name
// twice.
func TestFileErrorNamesVariableOnce(t *testing.T) {
	t.Parallel()
	skipWithoutShm(t)
	p := newPlan(t, Config{
		Environ:  []string{"CMS_SECRET=ref+mem://f?as=file"},
		Backends: map[string]sources.Backend{"mem": &mem{docs: map[string]string{"f": "v"}}},
	})
	prepare(t, p)
	p.files.Close() // every later write fails
	_, err := p.Environment(p.current)
	if err == nil || strings.Count(err.Error(), "CMS_SECRET") != 1 || !strings.Contains(err.Error(), "write secret file") {
		t.Errorf("err = %v, want the variable named once", err)
	}
}
