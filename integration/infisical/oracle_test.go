package infisical

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	infisical "github.com/infisical/go-sdk"
	sdkerrors "github.com/infisical/go-sdk/packages/errors"
)

// go-sdk v0.8.0 is the oracle for Infisical's wire format (a test-only
// dependency: deps_test.go checks that no binary links it). The SDK and the
// hush binary make the same calls against the same fake — universal auth
// and Kubernetes logins, a renewal, a revocation, a listing with and
// without If-None-Match, a pinned version — and must send the same
// requests: method, path, query, Authorization, If-None-Match,
// Content-Type and JSON body, credentials aside. Every answer the fake
// gives them must parse in the SDK into what the fake holds.
func TestWireMatchesGoSDK(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.f.enableETags()
	jwtFile := filepath.Join(t.TempDir(), "token")
	jwt := "eyJ." + randomHex(16)
	writeFile(t, jwtFile, jwt)
	w.f.setK8sJWT(k8sIdentity, jwt)
	// Tokens live 3s as advertised (under the SDK's 5s renewal buffer, and
	// short enough for hush to renew within the test) but are accepted for
	// a minute: neither client's scheduling matters.
	w.f.setTTL(3, 3600)
	w.f.setGrace(time.Minute)

	sdk := sdkRequests(t, w, jwtFile)
	hush := hushRequests(t, w, jwtFile)

	for _, ep := range []string{epLogin, epK8s, epRenew, epRevoke, epList, epGet} {
		want, got := shapes(sdk, ep), shapes(hush, ep)
		if len(want) == 0 {
			t.Errorf("%s: go-sdk made no such request", ep)
			continue
		}
		if strings.Join(want, "\n") != strings.Join(got, "\n") {
			t.Errorf("%s: hush's requests differ from go-sdk's\ngo-sdk:\n  %s\nhush:\n  %s", ep,
				strings.Join(want, "\n  "), strings.Join(got, "\n  "))
		}
	}
}

// shapes lists the distinct request shapes for one endpoint, sorted.
func shapes(reqs []wireRequest, ep string) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range reqs {
		if r.endpoint != ep {
			continue
		}
		if s := r.String(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// sdkRequests drives go-sdk through every call and checks what it parsed.
func sdkRequests(t *testing.T, w *world, jwtFile string) []wireRequest {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.f.takeWire()
	// The fake accepts only hush's User-Agent; the SDK lets it be set.
	cfg := infisical.Config{SiteUrl: w.f.URL(), UserAgent: "hush (go-sdk oracle)", SilentMode: true}
	c := infisical.NewInfisicalClient(ctx, cfg)

	if _, err := c.Auth().UniversalAuthLogin(clientID, w.clientSecret); err != nil {
		t.Fatalf("go-sdk universal auth login: %v", err)
	}
	// The SDK renews a token that expires within five seconds, in the
	// background.
	waitFor(t, "go-sdk's renewal", func() bool { return w.f.count(epRenew) >= 1 })
	w.f.setTTL(3600, 7200)

	opts := infisical.ListSecretsOptions{ProjectID: projectID, Environment: "dev", SecretPath: "/",
		ExpandSecretReferences: true, IncludeImports: true}
	res, err := c.Secrets().ListSecrets(opts)
	if err != nil {
		t.Fatalf("go-sdk list: %v", err)
	}
	got := map[string]string{}
	for _, s := range res.Secrets {
		got[s.SecretKey] = s.SecretValue
	}
	if got["DB_PASSWORD"] != w.dbPassword || got["SHARED_TOKEN"] != w.sharedToken || got["DATABASE_URL"] != "postgres://app:"+w.dbPassword+"@db:5432/app" {
		t.Error("go-sdk parsed the fake's listing into other values")
	}
	if res.ETag == "" {
		t.Error("go-sdk found no ETag")
	}
	// A value the identity may not read: the SDK reads the answer (it
	// has no field for secretValueHidden and returns the mask as the
	// value, which is why hush checks the flag).
	w.f.hideValue("API_HIDDEN")
	w.f.set(projectID, "dev", "/", "API_HIDDEN", "hidden-"+randomHex(4))
	hidden, err := c.Secrets().ListSecrets(opts)
	if err != nil {
		t.Errorf("go-sdk list with a hidden value: %v", err)
	}
	for _, s := range hidden.Secrets {
		if s.SecretKey == "API_HIDDEN" && s.SecretValue != "<hidden-by-infisical>" {
			t.Errorf("go-sdk read the hidden value as %q", s.SecretValue)
		}
	}
	w.f.delete(projectID, "dev", "/", "API_HIDDEN")
	res, err = c.Secrets().ListSecrets(opts)
	if err != nil {
		t.Fatalf("go-sdk list: %v", err)
	}
	opts.IfNoneMatch = res.ETag
	var nm *sdkerrors.NotModifiedError
	if _, err := c.Secrets().ListSecrets(opts); !errors.As(err, &nm) {
		t.Errorf("go-sdk on the fake's 304: %v", err)
	}
	s, err := c.Secrets().Retrieve(infisical.RetrieveSecretOptions{SecretKey: "DB_PASSWORD", ProjectID: projectID,
		Environment: "dev", SecretPath: "/", Version: 1, ExpandSecretReferences: true, IncludeImports: true})
	if err != nil || s.SecretValue != w.dbPassword || s.Version != 1 {
		t.Errorf("go-sdk retrieve: version %d, %v", s.Version, err)
	}
	if err := c.Auth().RevokeAccessToken(); err != nil {
		t.Errorf("go-sdk revoke: %v", err)
	}
	if _, err := c.Auth().KubernetesAuthLogin(k8sIdentity, jwtFile); err != nil {
		t.Errorf("go-sdk Kubernetes auth login: %v", err)
	}
	reqs := w.f.takeWire()
	// An error answer parses too, message and all (its request, with a
	// wrong secret, is not one to compare).
	bad := infisical.NewInfisicalClient(ctx, cfg)
	var apiErr *sdkerrors.APIError
	if _, err := bad.Auth().UniversalAuthLogin(clientID, "wrong"); !errors.As(err, &apiErr) || apiErr.StatusCode != 401 ||
		!strings.Contains(apiErr.ErrorMessage, "Invalid credentials") {
		t.Errorf("go-sdk on the fake's 401: %#v", err)
	}
	w.f.takeWire()
	w.f.setTTL(3, 3600)
	return reqs
}

// hushRequests runs the hush binary through the same calls.
func hushRequests(t *testing.T, w *world, jwtFile string) []wireRequest {
	t.Helper()
	renewals, notModified := w.f.count(epRenew), w.f.count(epNotMod)
	r := start(t, w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD", "PINNED=ref+infisical://DB_PASSWORD?version=1"),
		"-v", "--poll-interval", "200ms", "--revoke-on-exit")
	r.nextChild()
	waitFor(t, "hush's renewal and a poll answered 304", func() bool {
		return w.f.count(epRenew) > renewals && w.f.count(epNotMod) > notModified
	})
	r.stop()
	k := start(t, []string{
		"INFISICAL_API_URL=" + w.f.URL(),
		"INFISICAL_KUBERNETES_IDENTITY_ID=" + k8sIdentity,
		"INFISICAL_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH=" + jwtFile,
		"DB_PASSWORD=ref+infisical://DB_PASSWORD?project_id=" + projectID + "&environment=dev",
	}, "--", "true")
	if code := k.wait(); code != 0 {
		t.Fatalf("hush with Kubernetes auth: exit %d\n%s", code, k.out.String())
	}
	return w.f.takeWire()
}
