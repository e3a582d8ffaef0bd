// Package sources turns secret references written in environment variable
// values into secret values.
//
// A reference follows helmfile/vals' grammar,
//
//	ref+BACKEND://PATH[?QUERY][#FRAGMENT]
//
// and is the whole value of a variable. [Scan] splits an environment into
// plain entries and [Request]s (applying the opt-in docker-library _FILE
// convention), and a [Resolver] reads each distinct secret once through a
// [Backend], selects a JSON value with the fragment's JSON pointer and checks
// the limits.
//
// Resolved values are held in [Secret], which prints as "[redacted]" through
// every formatting path, so that a value cannot reach a log line or an error
// by accident. Errors name variables and references, never values.
//
// The package knows nothing about processes: cmd/hush decides where values
// go.
package sources
