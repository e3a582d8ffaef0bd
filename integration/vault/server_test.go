package vault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hushinit/hush/integration/vault/internal/audit"
	"github.com/hushinit/hush/integration/vault/internal/devvault"
)

// vaultServer is one `vault server -dev` on a loopback port: in memory,
// unsealed, KV v2 at secret/.
type vaultServer struct {
	port  int
	addr  string // http://127.0.0.1:PORT
	token string // the root token
	cmd   *exec.Cmd
	log   string
	done  chan struct{}
}

// startVault starts a dev server on port (0: a free one) and waits until it
// answers its health check.
func startVault(port int) (*vaultServer, error) {
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	v := &vaultServer{port: port, addr: fmt.Sprintf("http://127.0.0.1:%d", port), token: "root-" + randomHex(12)}
	return v, v.start()
}

// start (re)starts the server on the same port with the same root token,
// with empty storage: dev mode keeps everything in memory.
func (v *vaultServer) start() error {
	logf, err := os.CreateTemp(tmpRoot, "vault-*.log")
	if err != nil {
		return err
	}
	defer logf.Close()
	v.log = logf.Name()
	v.cmd = exec.Command(vaultBin, "server", "-dev",
		"-dev-root-token-id="+v.token,
		fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", v.port),
		"-dev-no-store-token")
	v.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmpRoot}
	v.cmd.Stdout, v.cmd.Stderr = logf, logf
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := v.cmd.Start(); err != nil {
		return err
	}
	v.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(v.cmd, v.done)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(v.addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-v.done:
			b, _ := os.ReadFile(v.log)
			return fmt.Errorf("vault server exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			v.stop()
			return fmt.Errorf("vault server not healthy after 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server and waits for it to be gone.
func (v *vaultServer) stop() {
	if v.cmd == nil || v.cmd.Process == nil {
		return
	}
	v.cmd.Process.Kill()
	<-v.done
}

// freePort is a loopback TCP port nobody listens on right now.
var freePort = devvault.FreePort

// api calls Vault's HTTP API with the root token (or the token given in
// headers) and returns the decoded answer.
func (v *vaultServer) api(method, path string, body any, headers ...string) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, v.addr+"/v1/"+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", v.token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	out := map[string]any{}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("%s %s: %v", method, path, err)
		}
	}
	return out, nil
}

// must is api for test setup: any failure ends the test.
func (v *vaultServer) must(t testing.TB, method, path string, body any, headers ...string) map[string]any {
	t.Helper()
	out, err := v.api(method, path, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// cli runs Vault's own CLI against the server, as an operator would.
func (v *vaultServer) cli(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(vaultBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmpRoot, "VAULT_ADDR=" + v.addr, "VAULT_TOKEN=" + v.token}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vault %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// kvPut writes a KV v2 secret through the HTTP API.
func (v *vaultServer) kvPut(t testing.TB, path string, data map[string]any) {
	t.Helper()
	mount, rest, _ := strings.Cut(path, "/")
	v.must(t, "POST", mount+"/data/"+rest, map[string]any{"data": data})
}

func (v *vaultServer) enableAudit(file string) error {
	_, err := v.api("PUT", "sys/audit/file", map[string]any{"type": "file", "options": map[string]any{"file_path": file}})
	if err == nil {
		auditFile = file
	}
	return err
}

var (
	auditFile string
	auditMu   sync.Mutex
)

// auditRequest is one request entry of Vault's file audit log.
type auditRequest = audit.Request

// auditRequests returns every request the shared server has logged so far.
func auditRequests(t testing.TB) []auditRequest {
	t.Helper()
	auditMu.Lock()
	defer auditMu.Unlock()
	reqs, err := audit.Read(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

// policy writes an ACL policy.
func (v *vaultServer) policy(t testing.TB, name, hcl string) {
	t.Helper()
	v.must(t, "PUT", "sys/policies/acl/"+name, map[string]any{"policy": hcl})
}

// childToken creates a token with the given policies and options.
func (v *vaultServer) childToken(t testing.TB, opts map[string]any) string {
	t.Helper()
	out := v.must(t, "POST", "auth/token/create", opts)
	auth, _ := out["auth"].(map[string]any)
	tok, _ := auth["client_token"].(string)
	if tok == "" {
		t.Fatalf("no token in %v", out)
	}
	return tok
}

// writeFile writes content to a new file in the test's directory.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
