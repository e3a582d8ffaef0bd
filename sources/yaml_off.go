//go:build noyaml

package sources

// yamlToJSON: this build reads JSON documents only (build tag noyaml, which
// bin/hush-files uses: the YAML library would take it over its size budget).
func yamlToJSON([]byte) ([]byte, error) { return nil, errNoYAML }
