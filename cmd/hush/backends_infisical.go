//go:build !noinfisical

package main

import (
	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/infisical"
)

// addInfisical registers the Infisical backend. Constructing it reads no
// file and touches no network: it logs in on the first Read or poll.
func addInfisical(backends map[string]sources.Backend, cfg backendConfig) {
	backends[infisical.Name] = infisical.New(infisical.Config{
		Getenv:       cfg.getenv,
		PollInterval: cfg.opts.pollInterval,
		RevokeOnExit: cfg.opts.revokeOnExit,
		Logger:       cfg.log,
	})
}
