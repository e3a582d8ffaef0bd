//go:build !novault

package main

import (
	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/vault"
)

// addVault registers the Vault backend. Constructing it reads a few
// variables and nothing else: the client is made, and Vault contacted, on
// the first vault reference read.
func addVault(backends map[string]sources.Backend, cfg backendConfig) {
	backends[vault.Name] = vault.New(vault.Config{
		Getenv:       cfg.getenv,
		RevokeOnExit: cfg.opts.revokeOnExit,
		Logger:       cfg.log,
	})
}
