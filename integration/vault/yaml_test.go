package vault

import (
	"fmt"
	"testing"
)

// issue 14 item 2: a KV field holding a YAML (or JSON) document is pointed
// into past the field, as a JSON document is; vals' #a/b form works too.
func TestKVYAMLField(t *testing.T) {
	t.Parallel()
	id := randomHex(4)
	pw := "yaml-" + randomHex(8)
	path := "secret/yaml-" + id + "/app"
	shared.kvPut(t, path, map[string]any{
		"config": "db:\n  password: " + pw + "\n  port: 5432\n",
		"json":   fmt.Sprintf(`{"db": {"password": %q}}`, pw),
	})
	out := childFile(t)
	env := append(shared.env(),
		"A=ref+vault://"+path+"#/config/db/password",
		"B=ref+vault://"+path+"#config/db/port",
		"C=ref+vault://"+path+"#/json/db/password",
	)
	r := startHush(t, env, []string{pw, shared.token}, shortChild(out, "A", "B", "C")...)
	r.expectChildSaw(out, fmt.Sprintf(`A=%s B=5432 C=%s`, pw, pw))
}
