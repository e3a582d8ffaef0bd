// Package sources turns secret references written in environment variable
// values into secret values.
//
// A reference follows helmfile/vals' grammar,
//
//	ref+BACKEND://PATH[?QUERY][#FRAGMENT]
//
// and is the whole value of a variable or, in vals' form, part of a longer
// one ("postgres://app:ref+vault://db#/pw+@db/app": a [Request] with
// [Part]s). [Scan] splits an environment into
// plain entries and [Request]s (applying the opt-in docker-library _FILE
// convention) and validates every reference, once, against the backends of
// the build ([Resolver.ValidateRef]); it reports every bad one. A
// [Resolver] then reads each distinct secret once through a [Backend],
// selects a JSON value with the fragment's JSON pointer and checks the
// limits (size, NUL bytes, empty values unless ?allow_empty=true).
//
// Where things live:
//
//	scan.go      environment -> requests, the _FILE convention
//	embedded.go  references inside a longer value
//	parse.go     the reference grammar; ref.go the parsed form
//	pointer.go   JSON pointers into a document; yaml.go YAML documents
//	             as JSON (yaml_off.go in the noyaml build)
//	resolve.go   one read per group, concurrency, limits
//	secret.go    the redacting value type
//	errors.go    VarError ("NAME: REFERENCE: detail"), bounded
//	backend.go, watch.go, lifecycle.go   what a backend may implement
//	file/, vault/, infisical/   one package per backend
//	internal/remote/      the network rules Vault and Infisical share
//	internal/background/  a backend's goroutines, ended and joined at Close
//	rotation/    change notices -> complete new sets of values
//	delivery/    secret files in memory that only the child can read
//
// Resolved values are held in [Secret], which prints as "[redacted]" through
// every formatting path, so that a value cannot reach a log line or an error
// by accident. Errors name variables and references, never values, and
// quote at most a bounded part of either.
//
// The package knows nothing about processes: package plan decides where
// values go and what a change means for the child.
package sources
