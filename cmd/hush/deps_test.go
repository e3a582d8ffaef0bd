package main

import (
	"os/exec"
	"strings"
	"testing"
)

// What each flavour links (issue 12): bin/hush carries vault/api and never
// go-sdk (a test-only oracle, and 14 MB of cloud SDKs); the files-only
// flavour carries neither, nor any other backend's client.
func TestLinkedDependencies(t *testing.T) {
	t.Parallel()
	const (
		vaultAPI = "github.com/hashicorp/vault/api"
		goSDK    = "github.com/infisical/go-sdk"
	)
	for _, tc := range []struct {
		tags      string
		want, not []string
	}{
		{"", []string{vaultAPI, "github.com/hashicorp/vault/api/auth/approle", "github.com/hashicorp/vault/api/auth/kubernetes"}, []string{goSDK}},
		{"noinfisical", []string{vaultAPI}, []string{goSDK, "github.com/hushinit/hush/sources/infisical"}},
		{"novault,noinfisical", nil, []string{vaultAPI, goSDK, "github.com/hashicorp/", "github.com/hushinit/hush/sources/vault",
			"github.com/hushinit/hush/sources/infisical", "github.com/hushinit/hush/sources/internal/remote"}},
	} {
		t.Run("tags="+tc.tags, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command("go", "list", "-deps", "-tags", tc.tags, ".").Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			deps := strings.Fields(string(out))
			has := func(prefix string) bool {
				for _, d := range deps {
					if d == prefix || strings.HasPrefix(d, prefix+"/") || (strings.HasSuffix(prefix, "/") && strings.HasPrefix(d, prefix)) {
						return true
					}
				}
				return false
			}
			for _, w := range tc.want {
				if !has(w) {
					t.Errorf("%s is not linked", w)
				}
			}
			for _, n := range tc.not {
				if has(n) {
					t.Errorf("%s is linked", n)
				}
			}
		})
	}
}

// TestFilesFlavourLinksNoNetwork: the files-only flavour (make flavours'
// tags) links neither the net package nor math/big. net alone added about
// 0.35 MB (its resolver and every socket type) when --listen and the notify
// socket used it, and crypto/rand brings math/big; both would put
// bin/hush-files over its size budget (docs/budgets.md). Sockets are made
// with golang.org/x/sys/unix instead, addresses parsed by hand.
func TestFilesFlavourLinksNoNetwork(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-tags", "novault,noinfisical,noyaml", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		switch d {
		case "net", "crypto/rand", "math/big", "net/http", "crypto/tls":
			t.Errorf("%s is linked into the files-only flavour", d)
		}
	}
}

// TestFilesFlavourLinksNoCrypto: the files-only flavour links no crypto/
// package. crypto/sha256 alone brings Go's FIPS 140 module (AES, SHA-3,
// SHA-512, HMAC, the DRBG and their self-tests), about 150 kB, which put
// bin/hush-files over its size budget (docs/budgets.md); digests come from
// internal/digest instead, which its tests hold to crypto/sha256 and
// crypto/hmac.
func TestFilesFlavourLinksNoCrypto(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-tags", "novault,noinfisical,noyaml", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		if d == "crypto" || strings.HasPrefix(d, "crypto/") {
			t.Errorf("%s is linked into the files-only flavour", d)
		}
	}
}
