package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hushinit/hush/sources"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"

	"github.com/hushinit/hush/sources/internal/remote"
)

// authState is hush's Vault token. Logins are serialised by sem, so that the
// groups read concurrently at start-up share one login.
type authState struct {
	gate    *remote.Gate
	mu      sync.Mutex
	gen     uint64
	ready   bool
	token   string        // never logged
	secret  *lifetime     // the login's token, for renewal; nil for a given token
	changed chan struct{} // closed (and replaced) whenever the token changes
	looping bool          // the token's lifecycle goroutine runs

	// A response-wrapped secret id is single-use: keep what it unwrapped to
	// so that later logins can reuse it while the file is unchanged.
	wrapToken, secretID string
}

func (a *authState) generation() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen
}

func (a *authState) current() (token string, secret *lifetime, gen uint64, changed <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.token, a.secret, a.gen, a.changed
}

func (a *authState) lock(ctx context.Context) bool {
	return a.gate.Enter(ctx, "the Vault login") == nil
}

func (a *authState) unlock() { a.gate.Leave() }

// token is hush's current Vault token ("" with no credentials: a Vault
// Agent or Proxy adds it).
func (b *Backend) token() string {
	tok, _, _, _ := b.auth.current()
	return tok
}

// setToken makes tok hush's token for every request from now on.
func (b *Backend) setToken(tok string, secret *lifetime) {
	a := &b.auth
	a.mu.Lock()
	a.token, a.secret, a.ready = tok, secret, true
	a.gen++
	close(a.changed)
	a.changed = make(chan struct{})
	// Under a.mu, so that one loop starts; refused once the backend is
	// closed.
	if !a.looping {
		a.looping = b.routines.Go(b.ctx, func(context.Context) { b.tokenLoop() })
	}
	a.mu.Unlock()
}

// ensureToken obtains hush's first token, once, whatever number of reads
// ask for it at the same time.
func (b *Backend) ensureToken(ctx context.Context) error {
	a := &b.auth
	a.mu.Lock()
	ready := a.ready
	a.mu.Unlock()
	if ready {
		return nil
	}
	if !a.lock(ctx) {
		return fmt.Errorf("waiting for the Vault login: %w", ctx.Err())
	}
	defer a.unlock()
	a.mu.Lock()
	ready = a.ready
	a.mu.Unlock()
	if ready {
		return nil
	}
	tok, secret, err := b.obtainToken(ctx, true)
	if err != nil {
		return err
	}
	b.setToken(tok, secret)
	if b.set.method.canLogin() || b.set.method == authToken {
		b.log.Debug("Vault auth ready", "method", b.set.method.String(), "addr", b.address())
	}
	return nil
}

// obtainToken gets a token by the configured method.
func (b *Backend) obtainToken(ctx context.Context, persist bool) (string, *lifetime, error) {
	switch b.set.method {
	case authToken:
		return strings.TrimSpace(b.cfg.Getenv(EnvToken)), nil, nil
	case authTokenFile:
		tok, err := remote.ReadCredential(b.set.tokenFile, EnvTokenFile)
		return tok, nil, err
	case authAppRole, authK8s:
		loginPath := b.loginPath()
		mode := fewTimes
		if persist {
			mode = untilDeadline
		}
		s, err := b.call(ctx, "log in", loginPath, mode, b.loginOnce)
		if err != nil {
			return "", nil, err
		}
		if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
			return "", nil, fmt.Errorf("log in %s: no token in Vault's answer", loginPath)
		}
		lt := &lifetime{token: s.Auth.ClientToken, ttl: time.Duration(s.Auth.LeaseDuration) * time.Second,
			renewable: s.Auth.Renewable, increment: s.Auth.LeaseDuration}
		b.log.Info("logged in to Vault", "method", b.set.method.String(), "addr", b.address(),
			"ttl", lt.ttl, "renewable", lt.renewable)
		return s.Auth.ClientToken, lt, nil
	}
	return "", nil, nil
}

// loginOnce sends one login with the credentials as they are now, through
// vault/api's AppRole and Kubernetes auth methods, built afresh for each
// login: the secret id file and the service account token are read again
// every time (bounded, by hush), because both rotate (a new secret id
// delivered, a projected token refreshed by the kubelet). The client
// carries no token, so the login sends none.
func (b *Backend) loginOnce(ctx context.Context) (*response, error) {
	var method api.AuthMethod
	mount := strings.Trim(b.set.approleMount, "/")
	if b.set.method == authK8s {
		jwt, err := remote.ReadCredential(b.set.k8sTokenPath, EnvK8sTokenPath)
		if err != nil {
			return nil, err
		}
		k, err := kubernetes.NewKubernetesAuth(b.set.k8sRole, kubernetes.WithServiceAccountToken(jwt),
			kubernetes.WithMountPath(strings.Trim(b.set.k8sMount, "/")))
		if err != nil {
			return nil, fmt.Errorf("Kubernetes auth: %w", err)
		}
		method = k
	} else {
		secretID, err := b.secretID(ctx)
		if err != nil {
			return nil, err
		}
		a, err := approle.NewAppRoleAuth(b.set.roleID, &approle.SecretID{FromString: secretID}, approle.WithMountPath(mount))
		if err != nil {
			return nil, fmt.Errorf("AppRole auth: %w", err)
		}
		method = a
	}
	s, err := method.Login(ctx, b.client.api)
	if err != nil || s == nil || s.Auth == nil {
		return nil, err
	}
	return &response{Auth: &authInfo{ClientToken: s.Auth.ClientToken, LeaseDuration: s.Auth.LeaseDuration, Renewable: s.Auth.Renewable}}, nil
}

func (b *Backend) loginPath() string {
	mount := b.set.approleMount
	if b.set.method == authK8s {
		mount = b.set.k8sMount
	}
	return "auth/" + strings.Trim(mount, "/") + "/login"
}

// secretID reads the AppRole secret id, unwrapping it when the file holds a
// response-wrapping token (HUSH_VAULT_SECRET_ID_WRAPPED): PUT
// sys/wrapping/unwrap with the wrapping token as the request's token.
func (b *Backend) secretID(ctx context.Context) (string, error) {
	var (
		v   string
		err error
	)
	if b.set.secretIDEnv {
		v = strings.TrimSpace(b.cfg.Getenv(EnvValsSecretID))
	} else {
		v, err = remote.ReadCredential(b.set.secretIDFile, EnvSecretIDFile)
	}
	if err != nil || !b.set.secretIDWrap {
		return v, err
	}
	a := &b.auth
	if v == a.wrapToken && a.secretID != "" {
		return a.secretID, nil // the wrapping token was used up by an earlier login
	}
	s, err := b.client.write(ctx, "sys/wrapping/unwrap", nil, v)
	if err != nil {
		return "", describe("unwrap the secret id", "sys/wrapping/unwrap", err)
	}
	var id string
	if s != nil {
		id, _ = s.Data.fields()["secret_id"].(string)
	}
	if id == "" {
		return "", errors.New("unwrap the secret id: the wrapped response holds no secret_id")
	}
	a.wrapToken, a.secretID = v, id
	return id, nil
}

// refreshToken handles a 403 on a request made with token generation gen:
// if another request already replaced the token, or the token file holds a
// new one, or hush's token turns out to be invalid and a login succeeds,
// the request is worth retrying.
func (b *Backend) refreshToken(ctx context.Context, gen uint64) bool {
	a := &b.auth
	if !a.lock(ctx) {
		return false
	}
	defer a.unlock()
	if a.generation() != gen {
		return true
	}
	cur, _, _, _ := a.current()
	if b.set.method == authTokenFile {
		tok, err := remote.ReadCredential(b.set.tokenFile, EnvTokenFile)
		if err != nil || tok == cur {
			return false
		}
		b.setToken(tok, nil)
		b.log.Info("using the new token from the token file", "file", b.set.tokenFile)
		b.notifyLeased()
		return true
	}
	// A token that can still look itself up is valid: the 403 is about
	// policies, and a new login would change nothing.
	if _, err := b.client.read(ctx, "auth/token/lookup-self", nil, cur); err == nil {
		return false
	} else if e := describe("", "", err); e.status != 403 {
		return false
	}
	tok, s, err := b.obtainToken(ctx, false)
	if err != nil {
		b.log.Warn("hush's Vault token is no longer valid and logging in again failed", "err", err.Error())
		return false
	}
	b.setToken(tok, s)
	b.notifyLeased()
	return true
}

// tokenLoop keeps hush's token alive: renews it while Vault extends it, and
// logs in again (AppRole, Kubernetes, a new token in the token file) when it
// reaches its max TTL or Vault refuses to renew it.
func (b *Backend) tokenLoop() {
	for {
		tok, secret, gen, changed := b.auth.current()
		ctx, cancel := context.WithCancel(b.ctx)
		var replaced sync.WaitGroup // joined before the next token, or the end
		replaced.Go(func() {
			select {
			case <-changed:
				cancel()
			case <-ctx.Done():
			}
		})
		if secret == nil && tok != "" {
			secret = b.lookupSelf(ctx, tok)
		}
		end := endStopped
		if secret != nil {
			end = b.renewUntilEnd(ctx, *secret, "hush's Vault token", nil)
		} else {
			<-ctx.Done() // nothing to renew: wait for a new token, or the end
		}
		cancel()
		replaced.Wait()
		if b.ctx.Err() != nil {
			return
		}
		if end == endStopped {
			continue // the token was replaced
		}
		if !b.set.method.canLogin() {
			b.log.Error("hush's Vault token can no longer be renewed and will expire; with VAULT_TOKEN hush cannot log in again "+
				"(use a token with a longer max TTL, a token file, AppRole or Kubernetes auth)", "reason", string(end))
			select {
			case <-changed:
				continue
			case <-b.ctx.Done():
				return
			}
		}
		b.relogin(gen, end)
	}
}

// lookupSelf finds out whether a given token (VAULT_TOKEN, a token file)
// expires, and so needs renewing. A token that never expires (root, or
// ttl 0) or that may not look itself up returns nil.
func (b *Backend) lookupSelf(ctx context.Context, tok string) *lifetime {
	for attempt := 0; ; attempt++ {
		s, err := b.client.read(ctx, "auth/token/lookup-self", nil, tok)
		if err == nil && s != nil {
			data := s.Data.fields()
			ttl := number(data["ttl"])
			if ttl <= 0 {
				return nil
			}
			renewable, _ := data["renewable"].(bool)
			return &lifetime{token: tok, ttl: time.Duration(ttl) * time.Second, renewable: renewable,
				increment: int(number(data["creation_ttl"]))}
		}
		if err == nil {
			return nil
		}
		e := describe("look up hush's token", "auth/token/lookup-self", err)
		if !e.transient() {
			b.log.Debug("cannot look up hush's Vault token; it is not renewed", "err", e.Error())
			return nil
		}
		if !remote.Sleep(ctx, reloginBackoff.Delay(attempt)) {
			return nil
		}
	}
}

// number reads a JSON number decoded with UseNumber.
func number(v any) int64 {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			f, _ := n.Float64()
			return int64(f)
		}
		return i
	case float64:
		return int64(n)
	}
	return 0
}

// relogin replaces token generation gen, retrying until it succeeds or
// hush exits.
func (b *Backend) relogin(gen uint64, why endReason) {
	a := &b.auth
	for attempt := 0; ; attempt++ {
		if !a.lock(b.ctx) {
			return
		}
		if a.generation() != gen {
			a.unlock()
			return
		}
		cur, _, _, _ := a.current()
		ctx, cancel := context.WithTimeout(b.ctx, defaultCallTimeout)
		tok, s, err := b.obtainToken(ctx, false)
		cancel()
		if err == nil && tok == cur {
			err = fmt.Errorf("%s still holds the old token", b.set.tokenFile)
		}
		if err == nil {
			b.setToken(tok, s)
			a.unlock()
			b.log.Info("renewed hush's Vault credentials", "method", b.set.method.String(), "because", "the old token "+string(why))
			b.notifyLeased()
			return
		}
		a.unlock()
		wait := reloginBackoff.Delay(attempt)
		if attempt == 0 {
			b.log.Warn("cannot log in to Vault again; retrying", "err", err.Error(), "retry_in", wait.Round(time.Millisecond))
		} else {
			b.log.Debug("cannot log in to Vault again; retrying", "err", err.Error(), "retry_in", wait.Round(time.Millisecond))
		}
		if !remote.Sleep(b.ctx, wait) {
			return
		}
	}
}

// reloginBackoff paces background logins and lookups that keep failing:
// 1s doubling to 30s, with jitter.
var reloginBackoff = remote.Backoff{Base: time.Second, Max: 30 * time.Second, Jitter: 0.2}

// notifyLeased reports every group holding a lease: leases belong to the
// token that took them and die with it, so after a new login they must be
// taken again.
func (b *Backend) notifyLeased() {
	b.mu.Lock()
	var keys []sources.GroupKey
	for k, g := range b.groups {
		if g.lease != nil {
			keys = append(keys, k)
		}
	}
	b.mu.Unlock()
	for _, k := range keys {
		b.notifyKey(k)
	}
}
