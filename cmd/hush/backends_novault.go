//go:build novault

package main

import "github.com/hushinit/hush/sources"

// addVault: this build has no Vault backend (build tag novault).
func addVault(map[string]sources.Backend, backendConfig) {}
