package main

import (
	"github.com/hushinit/hush/sources"
	"github.com/hushinit/hush/sources/file"
)

// registerBackends lists the backends compiled into this build.
func registerBackends(workDir string) map[string]sources.Backend {
	return map[string]sources.Backend{
		"file": file.New(workDir),
	}
}
