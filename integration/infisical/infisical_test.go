package infisical

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	projectID   = "6f0c7a52-0d7e-4a4c-9a53-1c2b3d4e5f60"
	projectSlug = "web-app"
	clientID    = "b7a7e3ed-9aa0-4ff2-90f9-c7094dd60536"
	k8sIdentity = "1e6b4c2a-3f5d-4e8a-9b7c-0d1e2f3a4b5c"
)

// world is a fake server loaded with a project and the credentials to
// reach it. Every value is random, so that the leak checks mean something.
type world struct {
	f            *fakeInfisical
	clientSecret string
	dbPassword   string
	apiKey       string
	stripeKey    string
	sharedToken  string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldTLS(t, false)
}

func newWorldTLS(t *testing.T, tls bool) *world {
	t.Helper()
	w := &world{
		f:            newFake(t, tls),
		clientSecret: "cs-" + randomHex(16),
		dbPassword:   "pw-" + randomHex(8),
		apiKey:       "ak-" + randomHex(8),
		stripeKey:    "sk_live_" + randomHex(8),
		sharedToken:  "sh-" + randomHex(8),
	}
	f := w.f
	f.addClient(clientID, w.clientSecret)
	f.addProject(projectID, projectSlug)
	f.set(projectID, "dev", "/", "DB_USER", "app")
	f.set(projectID, "dev", "/", "DB_PASSWORD", w.dbPassword)
	f.set(projectID, "dev", "/", "DATABASE_URL", "postgres://${DB_USER}:${DB_PASSWORD}@db:5432/app")
	f.set(projectID, "dev", "/", "CONFIG", fmt.Sprintf(`{"api":{"key":%q},"port":8080}`, w.apiKey))
	f.set(projectID, "dev", "/payments", "STRIPE_KEY", w.stripeKey)
	f.set(projectID, "dev", "/shared", "SHARED_TOKEN", w.sharedToken)
	f.addImport(folderKey{projectID, "dev", "/"}, folderKey{projectID, "dev", "/shared"})
	return w
}

// rotate gives DB_PASSWORD a new value.
func (w *world) rotate() {
	w.dbPassword = "pw-" + randomHex(8)
	w.f.set(projectID, "dev", "/", "DB_PASSWORD", w.dbPassword)
}

// expectChild waits for the next child and checks that it got w's
// DB_PASSWORD and none of the variables in absent (the credentials hush
// used); it returns the child's environment.
func (r *hushRun) expectChild(w *world, absent ...string) map[string]string {
	r.t.Helper()
	env := r.nextChild()
	if env["DB_PASSWORD"] != w.dbPassword {
		r.t.Error("wrong DB_PASSWORD")
	}
	for _, k := range absent {
		if _, ok := env[k]; ok {
			r.t.Errorf("%s reached the child", k)
		}
	}
	return env
}

// universal is the environment of a run that logs in with universal auth,
// the project and environment coming from INFISICAL_PROJECT_ID and
// INFISICAL_ENVIRONMENT.
func (w *world) universal(extra ...string) []string {
	return append([]string{
		"INFISICAL_API_URL=" + w.f.URL(),
		"INFISICAL_UNIVERSAL_AUTH_CLIENT_ID=" + clientID,
		"INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET=" + w.clientSecret,
		"INFISICAL_PROJECT_ID=" + projectID,
		"INFISICAL_ENVIRONMENT=dev",
	}, extra...)
}

// secrets are what must never appear in hush's output.
func (w *world) secrets() map[string]string {
	m := map[string]string{
		"the client secret":   w.clientSecret,
		"DB_PASSWORD's value": w.dbPassword,
		"the API key":         w.apiKey,
		"STRIPE_KEY's value":  w.stripeKey,
		"SHARED_TOKEN":        w.sharedToken,
	}
	for i, tok := range w.f.issuedTokens() {
		m[fmt.Sprintf("access token %d", i)] = tok
	}
	return m
}

// N references on M folders: one login, one list call per folder, values
// selected, expanded and imported as Infisical does, credentials scrubbed.
func TestResolveOneListPerFolder(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := start(t, w.universal(
		"DB_PASSWORD=ref+infisical://DB_PASSWORD",
		"DB_USER=ref+infisical://DB_USER?project_id="+projectID+"&environment=dev",
		"DATABASE_URL=ref+infisical://DATABASE_URL",
		"API_KEY=ref+infisical://CONFIG#/api/key",
		"API_PORT=ref+infisical://CONFIG#/port",
		"STRIPE_KEY=ref+infisical://STRIPE_KEY?path=payments",
		"STRIPE_KEY_AGAIN=ref+infisical://STRIPE_KEY?path=/payments/",
		"SHARED_TOKEN=ref+infisical://SHARED_TOKEN",
		"RAW_URL=ref+infisical://DATABASE_URL?expand=false",
		"SENTRY_DSN=ref+infisical://SENTRY_DSN?optional=true",
		"PLAIN=unchanged",
	), "-v", "--revoke-on-exit")
	env := r.nextChild()
	want := map[string]string{
		"DB_PASSWORD":      w.dbPassword,
		"DB_USER":          "app",
		"DATABASE_URL":     "postgres://app:" + w.dbPassword + "@db:5432/app",
		"API_KEY":          w.apiKey,
		"API_PORT":         "8080",
		"STRIPE_KEY":       w.stripeKey,
		"STRIPE_KEY_AGAIN": w.stripeKey,
		"SHARED_TOKEN":     w.sharedToken,
		"RAW_URL":          "postgres://${DB_USER}:${DB_PASSWORD}@db:5432/app",
		"PLAIN":            "unchanged",
		// Not credentials: left for the application.
		"INFISICAL_PROJECT_ID":  projectID,
		"INFISICAL_ENVIRONMENT": "dev",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("child's %s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"SENTRY_DSN", "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID", "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET"} {
		if v, ok := env[k]; ok {
			t.Errorf("child has %s (%d bytes)", k, len(v))
		}
	}
	if code := r.stop(); code != 0 && code != 143 {
		t.Errorf("exit status %d", code)
	}
	// Folders: "/" expanded, "/" raw (other list options), "/payments".
	f := w.f
	if n := f.count(epList); n != 3 {
		t.Errorf("%d list calls for 3 folders", n)
	}
	if n := f.count(epLogin); n != 1 {
		t.Errorf("%d logins", n)
	}
	if n := f.count(epGet); n != 0 {
		t.Errorf("%d single-secret reads", n)
	}
	// With --revoke-on-exit the token hush obtained is revoked at exit.
	if n := f.count(epRevoke); n != 1 {
		t.Errorf("%d revocations", n)
	}
	q := f.lastListQuery()
	if q.Get("workspaceId") != projectID || q.Get("workspaceSlug") != "" || q.Get("recursive") != "false" {
		t.Errorf("list query %v", q)
	}
	assertNoLeak(t, r.out.String(), w.secrets())
}

// project= (a slug) lists with workspaceSlug; version= reads one version
// with the single-secret endpoint, and is not polled.
func TestProjectSlugAndVersion(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	old := w.dbPassword
	w.dbPassword = "pw-" + randomHex(8)
	w.f.set(projectID, "dev", "/", "DB_PASSWORD", w.dbPassword)
	r := start(t, w.universal(
		"CURRENT=ref+infisical://DB_PASSWORD?project="+projectSlug,
		"PINNED=ref+infisical://DB_PASSWORD?version=1",
	), watchArgs...)
	env := r.nextChild()
	if env["CURRENT"] != w.dbPassword || env["PINNED"] != old {
		t.Errorf("CURRENT and PINNED are wrong (%d and %d bytes)", len(env["CURRENT"]), len(env["PINNED"]))
	}
	q := w.f.lastListQuery()
	if q.Get("workspaceSlug") != projectSlug || q.Get("workspaceId") != "" {
		t.Errorf("list query %v", q)
	}
	waitFor(t, "two polls", func() bool { return r.lines(logPolled) >= 2 })
	r.stop()
	if n := w.f.count(epGet); n != 1 {
		t.Errorf("%d single-secret reads for one pinned version", n)
	}
	if n := w.f.count(epRevoke); n != 0 {
		t.Errorf("%d revocations without --revoke-on-exit", n)
	}
	assertNoLeak(t, r.out.String(), w.secrets())
	assertNoLeak(t, r.out.String(), map[string]string{"the old password": old})
}

// A missing key fails closed, naming the variable and the reference.
func TestMissingKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := start(t, w.universal(
		"DB_PASSWORD=ref+infisical://DB_PASSWORD",
		"API_TOKEN=ref+infisical://API_TOKEN",
		"MISSING_FOLDER=ref+infisical://X?path=/nope",
	))
	out := r.expectRefused(
		"API_TOKEN: ref+infisical://API_TOKEN: no secret API_TOKEN in project "+projectID+", environment dev, folder /",
		"MISSING_FOLDER: ref+infisical://X?path=/nope",
		"HTTP 404",
	)
	if strings.Contains(out, "DB_PASSWORD:") {
		t.Errorf("a resolvable variable is reported:\n%s", out)
	}
	if r.children() != 0 {
		t.Error("a child was started")
	}
	assertNoLeak(t, out, w.secrets())
}

func TestAuthMethods(t *testing.T) {
	t.Parallel()
	refs := []string{"DB_PASSWORD=ref+infisical://DB_PASSWORD"}

	t.Run("token", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		tok := w.f.staticToken()
		r := start(t, append(refs, "INFISICAL_API_URL="+w.f.URL(), "INFISICAL_TOKEN="+tok,
			"INFISICAL_PROJECT_ID="+projectID, "INFISICAL_ENVIRONMENT=dev"), "--revoke-on-exit")
		r.expectChild(w, "INFISICAL_TOKEN")
		r.stop()
		if w.f.count(epLogin) != 0 || w.f.count(epRevoke) != 0 {
			t.Errorf("%d logins, %d revocations with a plain token (never revoked)", w.f.count(epLogin), w.f.count(epRevoke))
		}
		assertNoLeak(t, r.out.String(), w.secrets())
	})

	t.Run("universal auth access token first", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		tok := w.f.staticToken()
		other := "st-" + randomHex(8)
		// The CLI checks INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN first; the
		// other token variable is Infisical's credential as well, so
		// neither reaches the child (issue 10, item 5); --keep-env keeps
		// one on request.
		r := start(t, append(refs, "INFISICAL_DOMAIN="+w.f.URL()+"/api", "INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN="+tok,
			"INFISICAL_TOKEN="+other, "INFISICAL_PROJECT_ID="+projectID, "INFISICAL_ENVIRONMENT=dev"))
		r.expectChild(w, "INFISICAL_TOKEN", "INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN")
		r.stop()
		assertNoLeak(t, r.out.String(), map[string]string{"the access token": tok, "the other token": other})

		r = start(t, append(refs, "INFISICAL_DOMAIN="+w.f.URL()+"/api", "INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN="+tok,
			"INFISICAL_TOKEN="+other, "INFISICAL_PROJECT_ID="+projectID, "INFISICAL_ENVIRONMENT=dev"),
			"--keep-env", "INFISICAL_TOKEN")
		if env := r.nextChild(); env["INFISICAL_TOKEN"] != other || env["INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN"] != "" {
			t.Error("--keep-env INFISICAL_TOKEN did not keep exactly that variable")
		}
		r.stop()
	})

	t.Run("universal auth from files", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		dir := t.TempDir()
		idFile, secretFile := filepath.Join(dir, "id"), filepath.Join(dir, "secret")
		writeFile(t, idFile, clientID+"\n")
		writeFile(t, secretFile, w.clientSecret+"\n")
		r := start(t, append(refs, "INFISICAL_API_URL="+w.f.URL(),
			"INFISICAL_UNIVERSAL_AUTH_CLIENT_ID_FILE="+idFile, "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET_FILE="+secretFile,
			"INFISICAL_PROJECT_ID="+projectID, "INFISICAL_ENVIRONMENT=dev"))
		r.expectChild(w, "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID_FILE", "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET_FILE")
		r.stop()
		assertNoLeak(t, r.out.String(), w.secrets())
	})

	t.Run("kubernetes", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		jwtFile := filepath.Join(t.TempDir(), "token")
		jwt := "eyJhbGciOiJSUzI1NiJ9." + randomHex(16)
		writeFile(t, jwtFile, jwt)
		w.f.setK8sJWT(k8sIdentity, jwt)
		r := start(t, append(refs, "INFISICAL_API_URL="+w.f.URL(),
			"INFISICAL_KUBERNETES_IDENTITY_ID="+k8sIdentity, "INFISICAL_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH="+jwtFile,
			"INFISICAL_PROJECT_ID="+projectID, "INFISICAL_ENVIRONMENT=dev"))
		r.expectChild(w, "INFISICAL_KUBERNETES_IDENTITY_ID", "INFISICAL_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH")
		r.stop()
		if w.f.count(epK8s) != 1 {
			t.Errorf("%d Kubernetes logins", w.f.count(epK8s))
		}
		assertNoLeak(t, r.out.String(), w.secrets())
		assertNoLeak(t, r.out.String(), map[string]string{"the service account token": jwt})
	})

	t.Run("wrong client secret", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		bad := "cs-" + randomHex(16)
		r := start(t, append(refs, "INFISICAL_API_URL="+w.f.URL(),
			"INFISICAL_UNIVERSAL_AUTH_CLIENT_ID="+clientID, "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET="+bad,
			"INFISICAL_PROJECT_ID="+projectID, "INFISICAL_ENVIRONMENT=dev"))
		out := r.expectRefused("universal auth login: HTTP 401: Invalid credentials")
		// 4xx is never retried.
		if n := w.f.count(epLogin); n != 1 {
			t.Errorf("%d login attempts", n)
		}
		assertNoLeak(t, out, map[string]string{"the wrong client secret": bad})
	})

	t.Run("expired plain token", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		tok := w.f.staticToken()
		w.f.expireTokens()
		r := start(t, append(refs, "INFISICAL_API_URL="+w.f.URL(), "INFISICAL_TOKEN="+tok,
			"INFISICAL_PROJECT_ID="+projectID, "INFISICAL_ENVIRONMENT=dev"))
		r.expectRefused("HTTP 401", "cannot be renewed")
		if n := w.f.count(epList); n != 1 {
			t.Errorf("%d list calls", n)
		}
		assertNoLeak(t, r.out.String(), w.secrets())
	})
}

// A change is seen by a poll and restarts the child with the new value.
// Every list call after start-up is a poll's: the re-read that follows the
// change is served by the poll's own listing.
func TestRotationOneCallPerPoll(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := start(t, w.universal(
		"DB_PASSWORD=ref+infisical://DB_PASSWORD",
		"DB_USER=ref+infisical://DB_USER",
		"STRIPE_KEY=ref+infisical://STRIPE_KEY?path=/payments",
	), watchArgs...)
	if env := r.nextChild(); env["DB_PASSWORD"] != w.dbPassword {
		t.Fatal("wrong first DB_PASSWORD")
	}
	waitFor(t, "a poll", func() bool { return r.lines(logPolled) >= 2 })
	old := w.dbPassword
	w.dbPassword = "pw-" + randomHex(8)
	w.f.set(projectID, "dev", "/", "DB_PASSWORD", w.dbPassword)
	env := r.nextChild()
	if env["DB_PASSWORD"] != w.dbPassword || env["STRIPE_KEY"] != w.stripeKey || env["DB_USER"] != "app" {
		t.Error("the restarted child's environment is wrong")
	}
	polls := r.lines(logPolled)
	waitFor(t, "more polls", func() bool { return r.lines(logPolled) >= polls+4 })
	const startupLists = 2 // two folders
	var lists, pollLines int
	waitFor(t, "one list call per folder and poll, nothing more", func() bool {
		pollLines = r.lines(logPolled)
		lists = w.f.count(epList)
		return lists == startupLists+pollLines
	})
	if n := r.children(); n != 2 {
		t.Errorf("%d children, want 2 (one restart)", n)
	}
	if n := w.f.count(epLogin); n != 1 {
		t.Errorf("%d logins", n)
	}
	benchRow(t, "3 variables in 2 folders, no ETag", fmt.Sprintf("%d list calls at start-up, then %d list calls over %d polls: %.1f per folder and poll",
		startupLists, lists-startupLists, pollLines, float64(lists-startupLists)/float64(pollLines)))
	r.stop()
	assertNoLeak(t, r.out.String(), w.secrets())
	assertNoLeak(t, r.out.String(), map[string]string{"the old password": old})
}

// With an ETag, polls send If-None-Match and an unchanged folder costs a
// 304; a change still restarts the child.
func TestRotationWithETag(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.f.enableETags()
	r := start(t, w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD"), watchArgs...)
	r.nextChild()
	waitFor(t, "304 answers", func() bool { return w.f.count(epNotMod) >= 2 })
	w.rotate()
	r.expectChild(w)
	notMod := w.f.count(epNotMod)
	waitFor(t, "304 answers after the change", func() bool { return w.f.count(epNotMod) >= notMod+2 })
	benchRow(t, "1 variable in 1 folder, server sends an ETag", fmt.Sprintf("each poll is one list call with If-None-Match; %d of %d list calls were answered 304 Not Modified",
		w.f.count(epNotMod), w.f.count(epList)))
	r.stop()
	if n := r.children(); n != 2 {
		t.Errorf("%d children", n)
	}
	assertNoLeak(t, r.out.String(), w.secrets())
}

// A token that stops working mid-watch (expired, revoked) costs one 401 and
// one new login; the child is not disturbed.
func TestTokenExpiryMidWatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := start(t, w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD"), watchArgs...)
	r.nextChild()
	waitFor(t, "a poll", func() bool { return r.lines(logPolled) >= 1 })
	w.f.expireTokens()
	waitFor(t, "a new login", func() bool { return w.f.count(epLogin) == 2 })
	polls := r.lines(logPolled)
	waitFor(t, "polls after the new login", func() bool { return r.lines(logPolled) >= polls+2 })
	w.rotate()
	r.expectChild(w)
	r.stop()
	if n := w.f.count(epRejected); n != 1 {
		t.Errorf("%d requests with a dead token", n)
	}
	if n := w.f.count(epLogin); n != 2 {
		t.Errorf("%d logins", n)
	}
	if n := r.lines(logPollFailed); n != 0 {
		t.Errorf("%d failed polls", n)
	}
	assertNoLeak(t, r.out.String(), w.secrets())
}

// Short-lived tokens are renewed before they expire, on their own
// schedule: with polls far apart (the first at a random point of a
// 10000-hour interval), nothing but the token's lifetime drives the
// renewals. Past their maximum lifetime hush logs in again instead,
// and says why. The fake accepts tokens for a while past their advertised
// TTL, so that hush being scheduled late on a loaded machine shows as a
// late renewal, never as a failure of the test.
func TestTokenRenewal(t *testing.T) {
	t.Parallel()
	t.Run("renew", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.f.setTTL(3, 3600)
		w.f.setGrace(time.Minute)
		r := start(t, w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD"), "-g", "-v", "--poll-interval", "10000h")
		r.nextChild()
		waitFor(t, "two renewals", func() bool { return w.f.count(epRenew) >= 2 })
		r.stop()
		if n := w.f.count(epLogin); n != 1 {
			t.Errorf("%d logins; output:\n%s", n, r.out.String())
		}
		if n := w.f.count(epList); n != 1 {
			t.Errorf("%d list calls (the renewals were driven by polls?)", n)
		}
		if n := w.f.count(epRejected); n != 0 {
			t.Errorf("%d requests with a dead token", n)
		}
		if n := r.children(); n != 1 {
			t.Errorf("%d children", n)
		}
		assertNoLeak(t, r.out.String(), w.secrets())
	})
	t.Run("max TTL", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.f.setTTL(3, 4)
		w.f.setGrace(time.Minute)
		r := start(t, w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD"), watchArgs...)
		r.nextChild()
		waitFor(t, "a second login", func() bool { return w.f.count(epLogin) >= 2 })
		r.stop()
		if n := w.f.count(epRejected); n != 0 {
			t.Errorf("%d requests with a dead token", n)
		}
		if n := r.lines(logPollFailed); n != 0 {
			t.Errorf("%d failed polls", n)
		}
		if n := r.lines("logging in to Infisical again"); n == 0 {
			t.Errorf("hush did not say why it logged in again:\n%s", r.out.String())
		}
		assertNoLeak(t, r.out.String(), w.secrets())
	})
}

// Kubernetes re-login reads the service account token file again: a
// projected token rotates, and the old one stops working.
func TestKubernetesReloginRereadsToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	jwtFile := filepath.Join(t.TempDir(), "token")
	jwt1, jwt2 := "eyJ."+randomHex(16), "eyJ."+randomHex(16)
	writeFile(t, jwtFile, jwt1)
	w.f.setK8sJWT(k8sIdentity, jwt1)
	r := start(t, []string{
		"INFISICAL_API_URL=" + w.f.URL(),
		"INFISICAL_AUTH_METHOD=kubernetes",
		"INFISICAL_MACHINE_IDENTITY_ID=" + k8sIdentity,
		"INFISICAL_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH=" + jwtFile,
		"DB_PASSWORD=ref+infisical://DB_PASSWORD?project_id=" + projectID + "&environment=dev",
	}, watchArgs...)
	r.nextChild()
	waitFor(t, "a poll", func() bool { return r.lines(logPolled) >= 1 })
	writeFile(t, jwtFile, jwt2)
	w.f.setK8sJWT(k8sIdentity, jwt2)
	w.f.expireTokens()
	waitFor(t, "a login with the new token", func() bool { return w.f.lastK8sJWT() == jwt2 })
	polls := r.lines(logPolled)
	waitFor(t, "polls after the new login", func() bool { return r.lines(logPolled) >= polls+2 })
	r.stop()
	if n := w.f.count(epK8s); n != 2 {
		t.Errorf("%d Kubernetes logins", n)
	}
	if n := r.lines(logPollFailed); n != 0 {
		t.Errorf("%d failed polls", n)
	}
	assertNoLeak(t, r.out.String(), w.secrets())
	assertNoLeak(t, r.out.String(), map[string]string{"the first JWT": jwt1, "the second JWT": jwt2})
}

// The server failing (5xx) or stalling during a watch leaves the child
// alone; hush logs, backs off, and picks up a change once the server is
// back.
func TestOutageKeepsChild(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := start(t, w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD", "HUSH_INFISICAL_TIMEOUT=300ms"), watchArgs...)
	r.nextChild()
	waitFor(t, "a poll", func() bool { return r.lines(logPolled) >= 1 })

	w.f.fail(http.StatusServiceUnavailable, -1, epList)
	waitFor(t, "failed polls", func() bool { return r.lines(logPollFailed) >= 2 })
	w.f.clearFault()
	waitFor(t, "recovery", func() bool { return r.lines(logRecovered) >= 1 })

	w.f.stall()
	failed := r.lines(logPollFailed)
	waitFor(t, "a stalled poll", func() bool { return r.lines(logPollFailed) >= failed+1 })
	w.f.unstall()
	waitFor(t, "recovery", func() bool { return r.lines(logRecovered) >= 2 })

	if n := r.children(); n != 1 {
		t.Fatalf("%d children during the outage", n)
	}
	w.rotate()
	r.expectChild(w)
	r.stop()
	out := r.out.String()
	if !strings.Contains(out, "HTTP 503") || !strings.Contains(out, "no answer within 300ms") {
		t.Errorf("the failures are not explained:\n%s", out)
	}
	assertNoLeak(t, out, w.secrets())
}

// At start-up 5xx answers are retried (with backoff), 4xx ones are not.
func TestStartupRetries(t *testing.T) {
	t.Parallel()
	t.Run("5xx", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.f.fail(http.StatusBadGateway, 2, epLogin)
		r := start(t, w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD"))
		r.expectChild(w)
		r.stop()
		if n := w.f.count(epLogin); n != 3 {
			t.Errorf("%d login attempts, want 3", n)
		}
		w2 := newWorld(t)
		w2.f.fail(http.StatusInternalServerError, 2, epList)
		r2 := start(t, w2.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD"))
		r2.expectChild(w2)
		r2.stop()
		if n := w2.f.count(epList); n != 3 {
			t.Errorf("%d list attempts, want 3", n)
		}
	})
	t.Run("4xx", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.f.fail(http.StatusForbidden, -1, epList)
		r := start(t, w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD", "API=ref+infisical://CONFIG#/api/key"))
		out := r.expectRefused("DB_PASSWORD: ref+infisical://DB_PASSWORD: listing secrets (project " + projectID +
			", environment dev, folder /): HTTP 403: injected failure")
		if n := w.f.count(epList); n != 1 {
			t.Errorf("%d list attempts", n)
		}
		assertNoLeak(t, out, w.secrets())
	})
}

// A 200 that is not Infisical's JSON (a proxy's page) is an error, not an
// empty folder that would turn optional references into unset variables.
func TestNotJSON(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tok := w.f.staticToken()
	w.f.proxyPage(1)
	r := start(t, []string{"INFISICAL_API_URL=" + w.f.URL(), "INFISICAL_TOKEN=" + tok,
		"SENTRY_DSN=ref+infisical://DB_PASSWORD?optional=true&project_id=" + projectID + "&environment=dev"})
	r.expectRefused(`the answer is not JSON (Content-Type "text/html; charset=utf-8")`)
}

// A server that accepts connections but never answers cannot hold hush
// past --startup-timeout: it exits 125 naming the variable.
func TestStalledServerAtStartup(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.f.stall()
	r := start(t, w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD"), "--startup-timeout", "1s")
	out := r.expectRefused("DB_PASSWORD: ref+infisical://DB_PASSWORD:", "deadline exceeded")
	if r.children() != 0 {
		t.Error("a child was started")
	}
	assertNoLeak(t, out, w.secrets())
}

// HTTPS with a private CA: refused (once, no retry) without
// HUSH_INFISICAL_CA_CERT, accepted with it.
func TestCustomCA(t *testing.T) {
	t.Parallel()
	w := newWorldTLS(t, true)
	env := func(extra ...string) []string {
		return append([]string{
			"INFISICAL_DOMAIN=" + w.f.URL(),
			"INFISICAL_UNIVERSAL_AUTH_CLIENT_ID=" + clientID,
			"INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET=" + w.clientSecret,
			"INFISICAL_PROJECT_ID=" + projectID,
			"INFISICAL_ENVIRONMENT=dev",
			"DB_PASSWORD=ref+infisical://DB_PASSWORD",
		}, extra...)
	}
	r := start(t, env())
	r.expectRefused("certificate")
	if n := r.lines("retrying"); n != 0 {
		t.Errorf("a certificate error was retried")
	}

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cert := w.f.srv.Certificate()
	writeFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
	r = start(t, env("HUSH_INFISICAL_CA_CERT="+caFile))
	r.expectChild(w, "HUSH_INFISICAL_CA_CERT")
	r.stop()
	assertNoLeak(t, r.out.String(), w.secrets())
}

// hush check reads through the same backend and prints no value.
func TestCheck(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := start(t, w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD", "STRIPE_KEY=ref+infisical://STRIPE_KEY?path=/payments"), "check")
	if code := r.wait(); code != 0 {
		t.Fatalf("exit status %d; output:\n%s", code, r.out.String())
	}
	out := r.out.String()
	if !strings.Contains(out, "DB_PASSWORD") || !strings.Contains(out, "infisical") {
		t.Errorf("output:\n%s", out)
	}
	assertNoLeak(t, out, w.secrets())
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// benchRow appends a measured figure to the Markdown report named by
// $HUSH_BENCH_REPORT (`make bench` points it at docs/benchmarks.md), so the
// requests per poll in the report come from a real run against the fake.
func benchRow(t *testing.T, setup, figure string) {
	t.Helper()
	path := os.Getenv("HUSH_BENCH_REPORT")
	if path == "" {
		return
	}
	benchMu.Lock()
	defer benchMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("bench report: %v", err)
	}
	defer f.Close()
	if !benchHeader {
		benchHeader = true
		fmt.Fprint(f, "\n## Infisical requests per poll\n\n"+
			"Measured by `go test ./integration/infisical/` against its wire-exact fake server (`make bench` runs it with HUSH_BENCH_REPORT), "+
			"with --poll-interval 200ms; counts are the fake's own.\n\n| setup | requests |\n|---|---|\n")
	}
	fmt.Fprintf(f, "| %s | %s |\n", setup, figure)
}

var (
	benchMu     sync.Mutex
	benchHeader bool
)
