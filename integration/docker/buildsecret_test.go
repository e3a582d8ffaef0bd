package docker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildSecretNeverInImage builds Dockerfile.example the way its header
// says (docker build --secret id=cms-secret,src=FILE, BuildKit), where
// `hush -- npm run build` reads the secret from the RUN step's secret mount.
// The build did get the secret (dist/build-info.json holds its digest), and
// no byte of it is anywhere in the image: not in `docker history`, not in
// the image config, not in any file of any layer that `docker save` writes.
// That holds for the build stage too, where the secret was mounted.
func TestBuildSecretNeverInImage(t *testing.T) {
	needDocker(t)
	t.Parallel()

	// The build stage as an image of its own, built with the same secret.
	buildStage := "hushtest-cms-site-build:" + runID
	secretFile := filepath.Join(t.TempDir(), "cms-secret.txt")
	if err := os.WriteFile(secretFile, []byte(appBuildSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := buildApp(buildStage, secretFile, "--target", "build"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dockerQuiet("rmi", "-f", buildStage) })

	for _, tc := range []struct {
		name        string
		image       string
		wantHistory string // a reference, where the value would have been
	}{
		{"runtime image", appImage, "ENV CMS_SECRET=ref+file:///run/secrets/cms-secret"},
		{"build stage", buildStage, "CMS_SECRET=ref+file:///run/secrets/cms-secret hush -- npm run build"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The build saw the secret: without this, an image without
			// the secret would prove nothing.
			files := imageFiles(t, tc.image)
			var info struct {
				CmsSecretBytes  int    `json:"cmsSecretBytes"`
				CmsSecretSha256 string `json:"cmsSecretSha256"`
			}
			if err := json.Unmarshal(files["app/dist/build-info.json"], &info); err != nil {
				t.Fatalf("app/dist/build-info.json: %v (%q)", err, files["app/dist/build-info.json"])
			}
			if info.CmsSecretSha256 != sha256hex(appBuildSecret) || info.CmsSecretBytes != len(appBuildSecret) {
				t.Errorf("npm run build saw a secret of %d bytes, sha256 %s; want the build secret's %d bytes, %s",
					info.CmsSecretBytes, info.CmsSecretSha256, len(appBuildSecret), sha256hex(appBuildSecret))
			}

			if history := docker(t, "history", "--no-trunc", tc.image); !strings.Contains(history, tc.wantHistory) {
				t.Errorf("docker history --no-trunc %s lacks %q:\n%s", tc.image, tc.wantHistory, history)
			}
			for _, f := range scanImage(t, tc.image, appBuildSecret) {
				t.Errorf("the build secret is in the image: %v", f)
			}
		})
	}
}

// TestOriginStoryLeaks builds the anti-pattern hush replaces
// (testdata/origin-story.Dockerfile: the secret as a build argument, kept
// in ENV) and shows that the same scanner finds the secret there, in each
// kind of place it looks: the scanner can fail.
func TestOriginStoryLeaks(t *testing.T) {
	needDocker(t)
	t.Parallel()

	value := "cms-leaky-" + randomHex(16)
	image := "hushtest-origin-story:" + runID
	err := build(filepath.Join("testdata", "origin-story.Dockerfile"), filepath.Join(repoRoot, "examples", "node-app"),
		"--no-cache", "--build-arg", "NODE_IMAGE="+baseImage, "--build-arg", "CMS_SECRET="+value, "-t", image)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dockerQuiet("rmi", "-f", image) })

	found := scanImage(t, image, value)
	for _, where := range []string{"docker history", "image config", "layer", "docker save"} {
		hits := 0
		for _, f := range found {
			if f.where == where {
				hits++
			}
		}
		if hits == 0 {
			t.Errorf("the scanner did not find the secret in %s, where the anti-pattern puts it", where)
		}
	}
	for _, f := range found {
		t.Logf("found, as expected: %v", f)
	}
}
