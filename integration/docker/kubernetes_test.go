package docker

import (
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestKubernetesExamples decodes every manifest under examples/kubernetes
// into the Kubernetes API types, strictly (an unknown or misspelt field is
// an error, as `kubectl apply --validate=strict` would make it), and checks
// what makes them work with hush: hush is the entrypoint, secrets are
// references, every ref+file reference points into a mounted secret volume
// that Kubernetes updates (no subPath), and the capabilities hush needs to
// switch user and forward signals are kept. No cluster runs here, so this is
// as far as the examples can be tested.
func TestKubernetesExamples(t *testing.T) {
	t.Parallel() // no Docker needed
	dir := filepath.Join(repoRoot, "examples", "kubernetes")
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d manifests under %s, want the secret-volume and the Vault examples", len(files), dir)
	}
	for _, file := range files {
		rel, _ := filepath.Rel(dir, file)
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			deployments := 0
			for i, doc := range yamlDocuments(t, file) {
				var meta struct{ APIVersion, Kind string }
				if err := yaml.Unmarshal(doc, &meta); err != nil {
					t.Fatalf("document %d: %v", i, err)
				}
				var obj any
				switch meta.APIVersion + " " + meta.Kind {
				case "apps/v1 Deployment":
					obj = &appsv1.Deployment{}
				case "v1 ServiceAccount":
					obj = &corev1.ServiceAccount{}
				case "v1 Secret":
					obj = &corev1.Secret{}
				case "v1 Service":
					obj = &corev1.Service{}
				default:
					t.Fatalf("document %d: %q %q is not a kind this test knows; add it", i, meta.APIVersion, meta.Kind)
				}
				if err := yaml.UnmarshalStrict(doc, obj); err != nil {
					t.Fatalf("document %d (%s): %v", i, meta.Kind, err)
				}
				if d, ok := obj.(*appsv1.Deployment); ok {
					deployments++
					checkDeployment(t, d)
				}
			}
			if deployments == 0 {
				t.Errorf("no Deployment in %s", file)
			}
		})
	}
}

// yamlDocuments splits a multi-document YAML file.
func yamlDocuments(t *testing.T, file string) [][]byte {
	t.Helper()
	data := readFile(t, file)
	var docs [][]byte
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) != "" {
			docs = append(docs, []byte(doc))
		}
	}
	return docs
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func checkDeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if d.Spec.Selector == nil {
		t.Fatalf("%s: no selector", d.Name)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("%s: selector %s=%s does not match the pod template's labels", d.Name, k, v)
		}
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, c := range pod.Containers {
		if len(c.Command) == 0 || c.Command[0] != "/usr/local/bin/hush" || len(c.Args) == 0 {
			t.Errorf("container %s: command %q args %q, want /usr/local/bin/hush first and the app in args", c.Name, c.Command, c.Args)
		}
		// Dockerfile.example's image sets HUSH_LISTEN: npm would start
		// node without the socket hush passes (fd 3), and node would then
		// fail to bind the port hush holds (TestZeroDowntimeRotation runs
		// the secret-volume example for real).
		if len(c.Args) > 0 && c.Args[0] == "npm" {
			t.Errorf("container %s: args %q: run the server itself (node server.js); npm does not pass the listening socket on", c.Name, c.Args)
		}
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("container %s mounts volume %q, which the pod does not define", c.Name, m.Name)
			}
		}
		refs := 0
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				t.Errorf("container %s: %s comes from secretKeyRef: the value would be in hush's environment; use a ref+ reference", c.Name, e.Name)
			}
			if !strings.HasPrefix(e.Value, "ref+") {
				continue
			}
			refs++
			u, err := url.Parse(strings.TrimPrefix(e.Value, "ref+"))
			if err != nil {
				t.Errorf("container %s: %s=%s: %v", c.Name, e.Name, e.Value, err)
				continue
			}
			switch u.Scheme {
			case "file":
				checkFileRef(t, c, volumes, e.Name, u.Path)
			case "vault":
				// VAULT_ADDR may come after the reference in the list.
				if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
					return e.Name == "VAULT_ADDR" && strings.HasPrefix(e.Value, "https://")
				}) {
					t.Errorf("container %s: %s refers to Vault, but VAULT_ADDR is not an https address", c.Name, e.Name)
				}
			default:
				t.Errorf("container %s: %s: backend %q is not one hush documents", c.Name, e.Name, u.Scheme)
			}
		}
		if refs == 0 {
			t.Errorf("container %s has no secret reference", c.Name)
		}
		// hush as root with every capability dropped: it still needs to
		// become the app's user and to signal it.
		if sc := c.SecurityContext; env["HUSH_USER"] != "" && sc != nil && sc.Capabilities != nil &&
			slices.Contains(sc.Capabilities.Drop, "ALL") {
			for _, need := range []corev1.Capability{"SETUID", "SETGID", "KILL"} {
				if !slices.Contains(sc.Capabilities.Add, need) {
					t.Errorf("container %s drops ALL capabilities but does not add %s back: hush cannot %s",
						c.Name, need, map[corev1.Capability]string{
							"SETUID": "switch to HUSH_USER", "SETGID": "switch to HUSH_USER's groups",
							"KILL": "forward signals to the app (another user)",
						}[need])
				}
			}
		}
	}
}

// checkFileRef: the referenced file must be in a secret (or projected)
// volume mounted as a directory, since Kubernetes never updates a subPath
// mount, and the volume must provide that file.
func checkFileRef(t *testing.T, c corev1.Container, volumes map[string]corev1.Volume, name, file string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		if m.SubPath != "" {
			t.Errorf("container %s: %s is under a subPath mount, which Kubernetes never updates: rotation would not reach it", c.Name, name)
		}
		v := volumes[m.Name]
		switch {
		case v.Secret != nil:
			if len(v.Secret.Items) > 0 && !slices.ContainsFunc(v.Secret.Items, func(k corev1.KeyToPath) bool {
				return path.Clean(k.Path) == rel
			}) {
				t.Errorf("container %s: %s points at %s, but volume %s has no item with path %s", c.Name, name, file, m.Name, rel)
			}
		case v.Projected != nil:
		default:
			t.Errorf("container %s: %s points into volume %s, which is not a secret volume", c.Name, name, m.Name)
		}
		return
	}
	t.Errorf("container %s: %s points at %s, which no volume mount provides", c.Name, name, file)
}

func readFile(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
