package infisical

import (
	"testing"
)

// issue 14 item 2: an Infisical value holding a YAML document is pointed
// into as a JSON one is, with vals' #a/b form too.
func TestYAMLValue(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	pw := "yaml-pw-" + randomHex(8)
	w.f.set(projectID, "dev", "/", "APP_YAML", "db:\n  password: "+pw+"\n  port: 5432\n  hosts: [a, b]\n")
	r := start(t, w.universal(
		"PW=ref+infisical://APP_YAML#/db/password",
		"PW_VALS=ref+infisical://APP_YAML#db/password",
		"PORT=ref+infisical://APP_YAML#/db/port",
		"HOSTS=ref+infisical://APP_YAML#/db/hosts",
	))
	env := r.nextChild()
	for k, v := range map[string]string{"PW": pw, "PW_VALS": pw, "PORT": "5432", "HOSTS": `["a","b"]`} {
		if env[k] != v {
			t.Errorf("child's %s = %q, want %q", k, env[k], v)
		}
	}
	r.stop()
	secrets := w.secrets()
	secrets["the YAML password"] = pw
	assertNoLeak(t, r.out.String(), secrets)
}
