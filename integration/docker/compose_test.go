package docker

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// composeFile is the example the README points at.
var composeFile = filepath.Join(repoRoot, "examples", "compose.yaml")

// TestCompose checks examples/compose.yaml with the Compose tool installed
// (Compose v2 as `docker compose` if present, else Debian's docker-compose
// 1.29): it parses, and it runs — the app gets the file secret through
// hush, and editing the secret file rotates it while the container runs.
func TestCompose(t *testing.T) {
	needDocker(t)
	t.Parallel()
	compose := composeCommand(t)

	t.Run("config", func(t *testing.T) {
		t.Parallel()
		out, err := compose.run("-f", composeFile, "config")
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Services map[string]struct {
				Entrypoint  []string
				Command     []string
				Environment map[string]string
				Secrets     []struct{ Source string }
			}
			Secrets map[string]struct{ File string }
		}
		if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
			t.Fatalf("compose config printed what is not YAML: %v\n%s", err, out)
		}
		app, ok := cfg.Services["app"]
		switch {
		case !ok:
			t.Fatalf("no service app:\n%s", out)
		case strings.Join(app.Entrypoint, " ") != "/usr/local/bin/hush --":
			t.Errorf("entrypoint %q, want hush", app.Entrypoint)
		case app.Environment["CMS_SECRET"] != "ref+file:///run/secrets/cms-secret":
			t.Errorf("CMS_SECRET = %q, want the reference", app.Environment["CMS_SECRET"])
		case len(app.Secrets) != 1 || app.Secrets[0].Source != "cms-secret":
			t.Errorf("service secrets %+v, want cms-secret", app.Secrets)
		case !strings.HasSuffix(cfg.Secrets["cms-secret"].File, "cms-secret.txt"):
			t.Errorf("secret cms-secret comes from %q, want a file", cfg.Secrets["cms-secret"].File)
		}
	})

	t.Run("up, rotate, stop", func(t *testing.T) {
		t.Parallel()
		s := newSecret(t)
		// The test's own image and secret file, and a short debounce, on
		// top of the example: the way a user adapts it.
		override := filepath.Join(t.TempDir(), "compose.override.yaml")
		err := os.WriteFile(override, fmt.Appendf(nil, `
services:
  app:
    image: %s
    environment:
      HUSH_DEBOUNCE: 200ms
    restart: "no"
    labels:
      hush.test.run: %q
secrets:
  cms-secret:
    file: %s
`, appImage, runID, s.path), 0o644)
		if err != nil {
			t.Fatal(err)
		}
		project := strings.ReplaceAll(uniqueName("compose"), "-", "")
		files := []string{"-p", project, "-f", composeFile, "-f", override}
		port := freePort(t)
		compose := compose
		compose.env = append(slices.Clone(compose.env), "CMS_SITE_PORT="+port)
		t.Cleanup(func() { _, _ = compose.run(append(files, "down", "--volumes", "--timeout", "1")...) })
		if _, err := compose.run(append(files, "up", "-d")...); err != nil {
			t.Fatal(err)
		}
		id, err := compose.run(append(files, "ps", "-q", "app")...)
		if err != nil || strings.TrimSpace(id) == "" {
			t.Fatalf("compose ps -q app: %q, %v", id, err)
		}
		c := &container{t: t, name: strings.TrimSpace(id)}

		first := c.waitServing(1)[0]
		if first.digest != digest8(s.value) {
			t.Errorf("the app got sha256 %s…, want the secret's %s…", first.digest, digest8(s.value))
		}
		if _, raw := c.inspect(); strings.Contains(raw, s.value) || !strings.Contains(raw, cmsRef) {
			t.Errorf("docker inspect shows the secret, or not the reference %s", cmsRef)
		}
		url := "http://127.0.0.1:" + port + "/"
		if got := getApp(t, url); got.CmsSecretSha256 != first.digest {
			t.Errorf("the published port answers with sha256 %s…, want %s…", got.CmsSecretSha256, first.digest)
		}

		// Rotation by editing the secret file, as the example's comment
		// says: a new node next to the old one, which is stopped once hush
		// sees the new one accept on the socket.
		s.write("cms-rotated-" + randomHex(16))
		second := c.waitServing(2)[1]
		if second.digest != digest8(s.value) {
			t.Errorf("after rotation the app got sha256 %s…, want the new secret's %s…", second.digest, digest8(s.value))
		}
		c.waitLog("the switch, by the probe", func(logs string) bool { return strings.Contains(logs, "ready_by=probe") })
		c.waitOneNode()
		if got := getApp(t, url); got.CmsSecretSha256 != second.digest {
			t.Errorf("after rotation the published port answers with sha256 %s…, want %s…", got.CmsSecretSha256, second.digest)
		}
		if st, _ := c.inspect(); !st.State.Running {
			t.Errorf("the container stopped during rotation\n%s", c.describe())
		}

		if _, err := compose.run(append(files, "stop")...); err != nil {
			t.Fatal(err)
		}
		if st, _ := c.inspect(); st.State.Running || st.State.ExitCode != 0 {
			t.Errorf("after compose stop: running=%v exit %d, want the app's clean 0\n%s",
				st.State.Running, st.State.ExitCode, c.describe())
		}
	})
}

// composer runs one flavour of the Compose tool.
type composer struct {
	argv []string // "docker compose" or "docker-compose"
	env  []string
}

func composeCommand(t *testing.T) composer {
	t.Helper()
	if err := exec.Command("docker", "compose", "version").Run(); err == nil {
		return composer{argv: []string{"docker", "compose"}}
	}
	if path, err := exec.LookPath("docker-compose"); err == nil {
		return composer{argv: []string{path}}
	}
	t.Fatal("neither `docker compose` nor docker-compose is installed (Debian: docker-compose)")
	return composer{}
}

func (c composer) run(args ...string) (string, error) {
	cmd := exec.Command(c.argv[0], append(c.argv[1:], args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s%s", strings.Join(c.argv, " "), strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}

// freePort is a loopback TCP port nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
