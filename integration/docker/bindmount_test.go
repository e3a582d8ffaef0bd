package docker

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReplacedSecretFile (issue 15 item 5): a Compose-style single-file
// secret replaced on the host by rename (an editor's save, sed -i) cannot
// reach the container, which keeps the old inode. hush says so once, naming
// the variable and the fix, and the app keeps running with its secret.
func TestReplacedSecretFile(t *testing.T) {
	needDocker(t)
	t.Parallel()
	s := newSecret(t)
	c := runContainer(t, s.mount(), "--env=HUSH_DEBOUNCE=100ms", appImage)
	c.waitServing(1)
	node := c.waitOneNode()

	newValue := "cms-replaced-" + randomHex(8)
	tmp := filepath.Join(filepath.Dir(s.path), ".cms-secret.swp")
	if err := os.WriteFile(tmp, []byte(newValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		t.Fatal(err)
	}
	logs := c.waitLog("a warning about the replaced file", func(logs string) bool {
		return strings.Contains(logs, "mount the file's directory")
	})
	for _, want := range []string{"CMS_SECRET", "/run/secrets/cms-secret", "write the file in place"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the warning does not name %q:\n%s", want, logs)
		}
	}
	if strings.Count(logs, "mount the file's directory") != 1 {
		t.Errorf("warned more than once:\n%s", logs)
	}
	if strings.Contains(logs, newValue) || strings.Contains(logs, s.value) {
		t.Errorf("a secret value is in the logs:\n%s", logs)
	}
	st, _ := c.inspect()
	nodes := c.nodePids()
	if started := parseServing(logs); !st.State.Running || len(started) != 1 || !slices.Equal(nodes, []int{node}) {
		t.Errorf("the app did not keep running untouched: running=%v, %d node start(s), node pids %v (was %d)\n%s",
			st.State.Running, len(started), nodes, node, c.describe())
	}
}
