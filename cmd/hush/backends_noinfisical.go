//go:build noinfisical

package main

import "github.com/hushinit/hush/sources"

// addInfisical: this build has no Infisical backend (build tag noinfisical).
func addInfisical(map[string]sources.Backend, backendConfig) {}
