package main

import (
	"log/slog"

	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/file"
)

// backendConfig is what a backend may need at construction. Constructors
// must be cheap and must not touch the network: most runs reference no
// remote secret, and start-up cost is a budget. Remote backends connect on
// first use.
type backendConfig struct {
	workDir string
	getenv  func(string) string
	opts    options
	log     *slog.Logger
}

// registerBackends lists the backends compiled into this build; remote ones
// come from files guarded by build tags (novault, noinfisical), so that
// bin/hush-files carries none of their code.
func registerBackends(cfg backendConfig) map[string]sources.Backend {
	backends := map[string]sources.Backend{
		file.Name: file.New(cfg.workDir),
	}
	addVault(backends, cfg)
	addInfisical(backends, cfg)
	return backends
}
