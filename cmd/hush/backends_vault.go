//go:build !novault

package main

import "github.com/hushinit/hush/sources"

// addVault registers the Vault backend. (Placeholder until sources/vault
// lands: it registers nothing yet.)
func addVault(map[string]sources.Backend, backendConfig) {}
