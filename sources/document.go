package sources

import "errors"

// errNoYAML is what a pointer into a document that is not JSON gives in a
// build without YAML support (build tag noyaml).
var errNoYAML = errors.New("this build of hush reads JSON documents only (built with the noyaml tag; bin/hush and bin/hush-vault read YAML)")
