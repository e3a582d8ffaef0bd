package vault

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeKubeAPI is the one Kubernetes API endpoint Vault's kubernetes auth
// method calls: POST /apis/authentication.k8s.io/v1/tokenreviews. It is a
// test double, not a Kubernetes: it answers exactly as the API server does
// (a TokenReview object in authentication.k8s.io/v1, 201 Created; a
// metav1.Status with 401 for a bad bearer), authenticating the
// service-account tokens the test issued and has not invalidated, so that
// Vault's real plugin runs its real checks (JWT signature against
// pem_keys, bound names and namespaces, audience, TokenReview identity).
type fakeKubeAPI struct {
	reviewer string // the bearer Vault must present (token_reviewer_jwt)
	key      *rsa.PrivateKey

	mu      sync.Mutex
	valid   map[string]bool // issued tokens still valid
	reviews map[string]int  // token -> TokenReviews seen
}

const (
	k8sNamespace = "apps"
	k8sSAName    = "web"
	k8sSAUID     = "5b3c0a6e-9f7e-4c59-9f58-0d1f2c3b4a5e"
)

func newFakeKubeAPI(t *testing.T) (*fakeKubeAPI, *httptest.Server) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKubeAPI{reviewer: "reviewer-" + randomHex(8), key: key, valid: map[string]bool{}, reviews: map[string]int{}}
	srv := httptest.NewServer(k)
	t.Cleanup(srv.Close)
	return k, srv
}

func (k *fakeKubeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status := func(code int, reason, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{
			"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
			"status": "Failure", "message": msg, "reason": reason, "code": code,
		})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
		status(http.StatusNotFound, "NotFound", "the server could not find the requested resource")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+k.reviewer {
		status(http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	var review struct {
		Spec struct {
			Token     string   `json:"token"`
			Audiences []string `json:"audiences"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		status(http.StatusBadRequest, "BadRequest", "bad TokenReview")
		return
	}
	k.mu.Lock()
	valid := k.valid[review.Spec.Token]
	k.reviews[review.Spec.Token]++
	k.mu.Unlock()
	st := map[string]any{"authenticated": false, "user": map[string]any{}, "error": "[invalid bearer token, service account token has expired]"}
	if valid {
		st = map[string]any{
			"authenticated": true,
			"user": map[string]any{
				"username": "system:serviceaccount:" + k8sNamespace + ":" + k8sSAName,
				"uid":      k8sSAUID,
				"groups":   []string{"system:serviceaccounts", "system:serviceaccounts:" + k8sNamespace, "system:authenticated"},
				"extra":    map[string]any{"authentication.kubernetes.io/pod-name": []string{"web-1"}},
			},
			"audiences": review.Spec.Audiences,
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{
		"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
		"metadata": map[string]any{"creationTimestamp": nil},
		"spec":     review.Spec,
		"status":   st,
	})
}

// issue signs a projected service-account token (RS256, the claims the
// kubelet's tokens carry) and marks it valid.
func (k *fakeKubeAPI) issue(t *testing.T) string {
	t.Helper()
	now := time.Now().Unix()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	head := enc(map[string]any{"alg": "RS256", "kid": "test", "typ": "JWT"})
	claims := enc(map[string]any{
		"aud": []string{"vault"}, "iss": "https://kubernetes.default.svc.cluster.local",
		"iat": now, "nbf": now, "exp": now + 3600,
		"sub": "system:serviceaccount:" + k8sNamespace + ":" + k8sSAName,
		"jti": randomHex(8),
		"kubernetes.io": map[string]any{
			"namespace":      k8sNamespace,
			"pod":            map[string]any{"name": "web-1", "uid": "0f4e2b1a-1111-2222-3333-444455556666"},
			"serviceaccount": map[string]any{"name": k8sSAName, "uid": k8sSAUID},
		},
	})
	sum := sha256.Sum256([]byte(head + "." + claims))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	jwt := head + "." + claims + "." + base64.RawURLEncoding.EncodeToString(sig)
	k.mu.Lock()
	k.valid[jwt] = true
	k.mu.Unlock()
	return jwt
}

func (k *fakeKubeAPI) invalidate(jwt string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.valid, jwt)
}

func (k *fakeKubeAPI) reviewsOf(jwt string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reviews[jwt]
}

func (k *fakeKubeAPI) publicKeyPEM(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Kubernetes auth, with Vault's real kubernetes auth plugin and a test
// TokenReview endpoint (see fakeKubeAPI): hush logs in with the service
// account token file, and at every re-login (here at the token's max TTL)
// reads the file again, because the kubelet rotates projected tokens. The
// first token is invalidated after the rotation, so a re-login with a
// stale token would fail.
func TestKubernetesAuth(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	kube, srv := newFakeKubeAPI(t)
	mount := "k8s-" + randomHex(4)
	shared.must(t, "POST", "sys/auth/"+mount, map[string]any{"type": "kubernetes"})
	shared.must(t, "POST", "auth/"+mount+"/config", map[string]any{
		"kubernetes_host":      srv.URL,
		"token_reviewer_jwt":   kube.reviewer,
		"pem_keys":             []string{kube.publicKeyPEM(t)},
		"disable_local_ca_jwt": true,
	})
	shared.must(t, "POST", "auth/"+mount+"/role/web", map[string]any{
		"bound_service_account_names":      []string{k8sSAName},
		"bound_service_account_namespaces": []string{k8sNamespace},
		"audience":                         "vault",
		"token_policies":                   []string{f.policy},
		"token_ttl":                        "3s",
		"token_max_ttl":                    "6s",
	})
	first := kube.issue(t)
	tokenPath := writeFile(t, "token", first)
	env := append(baseEnv(), "VAULT_ADDR="+shared.addr, f.ref(),
		"HUSH_VAULT_K8S_ROLE=web", "HUSH_VAULT_K8S_MOUNT="+mount, "HUSH_VAULT_K8S_TOKEN_PATH="+tokenPath)
	out := childFile(t)
	r := startHush(t, env, []string{f.value, first, kube.reviewer}, args(fastWatch, longChild(out, "S", "HUSH_VAULT_K8S_ROLE"))...)
	if got := r.waitLines(out, 1); got[0] != "S="+f.value+" HUSH_VAULT_K8S_ROLE=<unset>" {
		t.Fatalf("child saw %q", got[0])
	}
	if kube.reviewsOf(first) != 1 {
		t.Errorf("TokenReviews of the first token: %d, want 1", kube.reviewsOf(first))
	}
	// The kubelet refreshes the projected token; the old one stops working.
	second := kube.issue(t)
	replaceFile(t, tokenPath, second)
	kube.invalidate(first)
	staleReviews := kube.reviewsOf(first)
	r.eventually("a login with the new service account token", func() bool { return kube.reviewsOf(second) > 0 })
	r.eventually("the new login to take effect", func() bool { return r.countLog("renewed hush's Vault credentials") >= 1 })
	r.expectNewVersion(f, out, " HUSH_VAULT_K8S_ROLE=<unset>")
	if n := r.countLog("cannot log in to Vault again"); n != 0 {
		t.Errorf("%d failed logins:\n%s", n, r.stderr)
	}
	if n := kube.reviewsOf(first); n != staleReviews {
		t.Errorf("hush logged in with the stale token after the file changed (%d reviews, %d before)", n, staleReviews)
	}
	r.checkNoLeak([]string{second})
}
