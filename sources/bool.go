package sources

import (
	"fmt"
	"strings"
)

// ParseBool is hush's one reading of a yes/no setting, for HUSH_* variables,
// flags and query parameters alike: 1, true, yes, on and 0, false, no, off,
// in any case. Anything else is an error rather than a silent false.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (1/0, true/false, yes/no, on/off)", v)
}
