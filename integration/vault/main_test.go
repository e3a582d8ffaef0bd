// Package vault tests hush's Vault backend against a real Vault server
// (`vault server -dev`, built from source by scripts/build-vault.sh into a
// cache outside the repository) and, for dynamic database credentials, a
// real PostgreSQL from Debian's postgresql package. Everything drives the
// compiled hush binary from outside, like a user.
//
//	go test ./integration/vault/
//	HUSH_BIN=bin/hush HUSH_VAULT_BIN=/path/to/vault go test ./integration/vault/
//
// The Vault binary is required: without it (and without a way to build it)
// the tests fail rather than skip, so that CI cannot pass without them.
package vault

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hushinit/hush/integration/internal/testbin"
)

var (
	hushBin  string       // the hush binary under test
	vaultBin string       // the Vault server binary
	shared   *vaultServer // one dev server for the tests that can share it
	tmpRoot  string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	tmpRoot, err = os.MkdirTemp("", "hush-vault-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmpRoot)
	if err := os.Chmod(tmpRoot, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if hushBin, err = findHush(); err != nil {
		fmt.Fprintln(os.Stderr, "hush:", err)
		return 1
	}
	if vaultBin, err = findVault(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: the Vault server binary is required for these tests:", err)
		return 1
	}
	shared, err = startVault(0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting vault:", err)
		return 1
	}
	defer shared.stop()
	if err := shared.enableAudit(filepath.Join(tmpRoot, "audit.log")); err != nil {
		fmt.Fprintln(os.Stderr, "enabling the audit log:", err)
		return 1
	}
	// hush and Vault's CLI must not pick up the machine's settings.
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(name, "HUSH_") || strings.HasPrefix(name, "VAULT_")) && name != "HUSH_BIN" && name != "HUSH_VAULT_BIN" {
			os.Unsetenv(name)
		}
	}
	code := m.Run()
	stopPostgres()
	return code
}

func findHush() (string, error) { return testbin.Hush(tmpRoot) }

// findVault returns $HUSH_VAULT_BIN, or what scripts/build-vault.sh prints
// (it returns at once when the binary is cached, and builds it otherwise).
func findVault() (string, error) {
	if p := os.Getenv("HUSH_VAULT_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", err
		}
		return filepath.Abs(p)
	}
	cmd := exec.Command("./scripts/build-vault.sh")
	cmd.Dir = "../.."
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/build-vault.sh: %v", err)
	}
	p := strings.TrimSpace(string(out))
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("scripts/build-vault.sh printed %q: %v", p, err)
	}
	return p, nil
}

// randomHex returns n random bytes as hex, for tokens, names and values
// that must not collide between tests (and are easy to look for in output).
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
