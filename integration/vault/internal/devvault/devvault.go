// Package devvault runs a Vault dev server for the benchmark programs
// under integration/vault (the tests have their own, with an audit log and
// restarts, and share FreePort): find the binary, start it on a free port,
// call its API, and kill what a run started.
package devvault

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Find returns $HUSH_VAULT_BIN, or what scripts/build-vault.sh prints (run
// from the repository root).
func Find() (string, error) {
	if p := os.Getenv("HUSH_VAULT_BIN"); p != "" {
		return p, nil
	}
	out, err := exec.Command("./scripts/build-vault.sh").Output()
	if err != nil {
		return "", fmt.Errorf("scripts/build-vault.sh (run from the repository root): %v", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Version is the server's version ("v1.21.1"), "?" when it cannot tell.
func Version(bin string) string {
	out, _ := exec.Command(bin, "version").Output()
	if f := strings.Fields(string(out)); len(f) >= 2 {
		return strings.TrimSuffix(f[1], ",")
	}
	return "?"
}

// Server is a running dev server.
type Server struct {
	Addr, Token string
	cmd         *exec.Cmd
}

// Start runs `vault server -dev` on a free port with a random root token
// and waits until it is healthy.
func Start(bin, home string) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	v := &Server{Addr: fmt.Sprintf("http://127.0.0.1:%d", port), Token: "root-" + RandomHex(8)}
	v.cmd = exec.Command(bin, "server", "-dev", "-dev-root-token-id="+v.Token,
		fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port), "-dev-no-store-token")
	v.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := v.cmd.Start(); err != nil {
		return nil, err
	}
	for range 3000 {
		if resp, err := http.Get(v.Addr + "/v1/sys/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return v, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	v.Stop()
	return nil, fmt.Errorf("vault dev server not healthy")
}

// Bench is where a benchmark program runs: a dev server whose home is a
// scratch directory, and the binaries under test.
type Bench struct {
	*Server
	HushBin  string // absolute
	VaultBin string
	Dir      string // removed by Close
}

// StartBench finds the Vault binary, makes a scratch directory named after
// the program and starts a dev server there.
func StartBench(program, hushBin string) (*Bench, error) {
	hushBin, err := filepath.Abs(hushBin)
	if err != nil {
		return nil, err
	}
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", program+"-")
	if err != nil {
		return nil, err
	}
	v, err := Start(bin, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Bench{Server: v, HushBin: hushBin, VaultBin: bin, Dir: dir}, nil
}

// Close stops the server and removes the scratch directory.
func (b *Bench) Close() {
	b.Stop()
	os.RemoveAll(b.Dir)
}

// FreePort is a loopback TCP port nobody listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop kills the server.
func (v *Server) Stop() {
	_ = v.cmd.Process.Kill()
	_ = v.cmd.Wait()
}

// API calls the server's HTTP API with the root token.
func (v *Server) API(method, path string, body any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, v.Addr+"/v1/"+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", v.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %s", method, path, msg)
	}
	return nil
}

// Kill kills cmd's process group and every process whose environment holds
// tagVar=tag (children re-parented elsewhere), then reaps cmd.
func Kill(cmd *exec.Cmd, tagVar, tag string) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	want := []byte(tagVar + "=" + tag + "\x00")
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ")); err == nil && bytes.Contains(append(b, 0), want) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_ = cmd.Wait()
}

// RandomHex is n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
