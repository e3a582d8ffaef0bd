package remote

// Setting looks up a per-backend setting by its name,
// HUSH_<BACKEND>_<NAME>, and then by older names kept as aliases. It
// returns the value and the name it was found under (for error messages),
// or "" and the name.
func Setting(getenv func(string) string, name string, aliases ...string) (value, from string) {
	if v := getenv(name); v != "" {
		return v, name
	}
	for _, a := range aliases {
		if v := getenv(a); v != "" {
			return v, a
		}
	}
	return "", name
}
