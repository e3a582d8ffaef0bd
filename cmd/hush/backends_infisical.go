//go:build !noinfisical

package main

import "github.com/hushinit/hush/sources"

// addInfisical registers the Infisical backend. (Placeholder until
// sources/infisical lands: it registers nothing yet.)
func addInfisical(map[string]sources.Backend, backendConfig) {}
