package infisical

import (
	"net/url"
	"strings"
	"testing"

	"github.com/hushinit/hush/sources"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// parse goes through sources.Scan, as hush does, so that the test covers
// what a user writes.
func parse(t *testing.T, ref string, getenv func(string) string) (target, error) {
	t.Helper()
	_, reqs, err := sources.Scan([]string{"X=" + ref}, sources.ScanOptions{})
	if err != nil {
		t.Fatalf("Scan(%q): %v", ref, err)
	}
	r := reqs[0].Ref
	if r.Backend != Name {
		t.Fatalf("backend %q", r.Backend)
	}
	return parseTarget(r.Path, r.Query, getenv)
}

func TestParseTarget(t *testing.T) {
	t.Parallel()
	defaults := env(envProjectID, "proj-env", envEnvironment, "prod")
	cases := []struct {
		ref    string
		getenv func(string) string
		want   target
	}{
		{"ref+infisical://DB_PASSWORD?project_id=p1&environment=dev", env(),
			target{Key: "DB_PASSWORD", Folder: folder{ProjectID: "p1", Environment: "dev", Path: "/", Expand: true, Imports: true}}},
		// vals' README examples.
		{"ref+infisical://WEBHOOK_URL?project=infrastructure-hue8&path=prometheus&environment=prod", env(),
			target{Key: "WEBHOOK_URL", Folder: folder{ProjectSlug: "infrastructure-hue8", Environment: "prod", Path: "/prometheus", Expand: true, Imports: true}}},
		{"ref+infisical://POSTGRES_PASSWORD?project_id=c2f75015-37b7-40b6-8412-2523ddfea5ed&environment=dev", env(),
			target{Key: "POSTGRES_PASSWORD", Folder: folder{ProjectID: "c2f75015-37b7-40b6-8412-2523ddfea5ed", Environment: "dev", Path: "/", Expand: true, Imports: true}}},
		// Defaults from the environment, as the CLI reads them.
		{"ref+infisical://API_KEY", defaults,
			target{Key: "API_KEY", Folder: folder{ProjectID: "proj-env", Environment: "prod", Path: "/", Expand: true, Imports: true}}},
		{"ref+infisical://API_KEY?environment=staging", defaults,
			target{Key: "API_KEY", Folder: folder{ProjectID: "proj-env", Environment: "staging", Path: "/", Expand: true, Imports: true}}},
		{"ref+infisical://API_KEY?project=slug", defaults,
			target{Key: "API_KEY", Folder: folder{ProjectSlug: "slug", Environment: "prod", Path: "/", Expand: true, Imports: true}}},
		// Folder spellings that are one folder.
		{"ref+infisical://K?path=/app/db/", defaults,
			target{Key: "K", Folder: folder{ProjectID: "proj-env", Environment: "prod", Path: "/app/db", Expand: true, Imports: true}}},
		{"ref+infisical://K?path=app//db", defaults,
			target{Key: "K", Folder: folder{ProjectID: "proj-env", Environment: "prod", Path: "/app/db", Expand: true, Imports: true}}},
		{"ref+infisical://K?path=/", defaults,
			target{Key: "K", Folder: folder{ProjectID: "proj-env", Environment: "prod", Path: "/", Expand: true, Imports: true}}},
		// Options.
		{"ref+infisical://K?version=3&type=shared&expand=false&include_imports=false", defaults,
			target{Key: "K", Version: 3, Folder: folder{ProjectID: "proj-env", Environment: "prod", Path: "/"}}},
		// Common parameters and the fragment are not the backend's.
		{"ref+infisical://CONFIG?optional=true&as=file#/db/password", defaults,
			target{Key: "CONFIG", Folder: folder{ProjectID: "proj-env", Environment: "prod", Path: "/", Expand: true, Imports: true}}},
		// Keys Infisical allows beyond [A-Z_].
		{"ref+infisical://my-key.v2", defaults,
			target{Key: "my-key.v2", Folder: folder{ProjectID: "proj-env", Environment: "prod", Path: "/", Expand: true, Imports: true}}},
	}
	for _, c := range cases {
		got, err := parse(t, c.ref, c.getenv)
		if err != nil {
			t.Errorf("%s: %v", c.ref, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.ref, got, c.want)
		}
	}
}

func TestParseTargetErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ref    string
		getenv func(string) string
		want   string
	}{
		{"ref+infisical://K?environment=dev", env(), "no project: add ?project_id=ID (or ?project=SLUG) or set INFISICAL_PROJECT_ID"},
		{"ref+infisical://K?project_id=p", env(), "no environment: add ?environment=SLUG (dev, prod, ...) or set INFISICAL_ENVIRONMENT"},
		{"ref+infisical://K?project_id=p&project=s&environment=dev", env(), "not both"},
		{"ref+infisical://proj/dev/app/KEY", env(envProjectID, "p", envEnvironment, "dev"), "the folder goes in ?path="},
		{"ref+infisical://K?projectId=p&environment=dev", env(), `unknown query parameter "projectId"`},
		{"ref+infisical://K?project_id=p&environment=dev&environment=prod", env(), `"environment" given more than once`},
		{"ref+infisical://K?project_id=p&environment=dev&version=0", env(), "want a version number"},
		{"ref+infisical://K?project_id=p&environment=dev&version=latest", env(), "want a version number"},
		{"ref+infisical://K?project_id=p&environment=dev&type=personal", env(), "personal secrets belong to users"},
		{"ref+infisical://K?project_id=p&environment=dev&type=x", env(), "want shared"},
		{"ref+infisical://K?project_id=p&environment=dev&expand=yes", env(), "want true or false"},
		{"ref+infisical://K?project_id=p&environment=dev&include_imports=1", env(), "want true or false"},
		{"ref+infisical://K%3F?project_id=p&environment=dev", env(), "only printable ASCII"},
	}
	for _, c := range cases {
		_, err := parse(t, c.ref, c.getenv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.ref, err, c.want)
		}
	}
}

// A reference whose project and environment come from the environment and
// one that spells them out name the same folder, hence one list call.
func TestSameFolder(t *testing.T) {
	t.Parallel()
	getenv := env(envProjectID, "p", envEnvironment, "dev")
	a, err := parse(t, "ref+infisical://A", getenv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := parse(t, "ref+infisical://B?project_id=p&environment=dev&path=/", getenv)
	if err != nil {
		t.Fatal(err)
	}
	if a.Folder != b.Folder {
		t.Errorf("%+v != %+v", a.Folder, b.Folder)
	}
}

func TestValidQuery(t *testing.T) {
	t.Parallel()
	b := New(Config{Getenv: env(envProjectID, "p", envEnvironment, "dev")})
	if err := b.ValidQuery(url.Values{}); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := b.ValidQuery(url.Values{"bogus": {"1"}}); err == nil {
		t.Error("unknown parameter accepted")
	}
	b = New(Config{Getenv: env(envPollInterval, "soon")})
	if err := b.ValidQuery(url.Values{"project_id": {"p"}, "environment": {"dev"}}); err == nil ||
		!strings.Contains(err.Error(), envPollInterval) {
		t.Errorf("bad poll interval: %v", err)
	}
}
