package sources

import (
	"fmt"
	"strings"
)

// unknownBackend explains a reference to a backend this build does not
// have: which ones it has, and for the backends a vals user is likely to
// bring along, what to write instead. vals has dozens of backends; hush
// reads secrets from files, Vault and Infisical only, and refuses the rest
// rather than pass the reference on as if it were the value.
func unknownBackend(name string, have []string) error {
	msg := fmt.Sprintf("unknown backend %q: this build of hush has %s", name, strings.Join(have, ", "))
	if hint := valsBackendHint(name); hint != "" {
		msg += "; " + hint
	}
	return fmt.Errorf("%s", msg)
}

// valsBackendHint says what to write instead of a vals backend hush lacks.
// A function, not a map: nothing to build at every start of hush.
func valsBackendHint(name string) string {
	switch name {
	case "vault", "infisical":
		return "bin/hush reads it (this binary was built without it)"
	case "echo":
		return "vals' echo gives back its own text: write the value itself"
	case "envsubst":
		return "hush expands no variables: write the value, or let the shell or Compose expand it before hush starts"
	case "sops":
		return "decrypt with sops into a file (on a tmpfs) and use ref+file://, or keep the secret in Vault or Infisical"
	}
	return ""
}
