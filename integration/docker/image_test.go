package docker

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestHushImage checks the image ./Dockerfile publishes: hush and nothing
// else, runnable as is, the same bytes as the binary it packaged. Every
// other test uses it through Dockerfile.example's
// `COPY --from=${HUSH_IMAGE} /usr/local/bin/hush /usr/local/bin/hush`.
func TestHushImage(t *testing.T) {
	needDocker(t)
	t.Parallel()

	// CMD ["version"]: running the image prints hush's version.
	out := docker(t, "run", "--rm", "--label", label, hushImage)
	if !strings.Contains(out, "hush") {
		t.Errorf("docker run %s printed %q, want hush's version", hushImage, out)
	}

	var config []struct {
		Config struct {
			Entrypoint []string
			Cmd        []string
			Env        []string
		}
	}
	if err := json.Unmarshal([]byte(docker(t, "image", "inspect", hushImage)), &config); err != nil || len(config) != 1 {
		t.Fatalf("docker image inspect: %v", err)
	}
	if got := strings.Join(config[0].Config.Entrypoint, " "); got != "/usr/local/bin/hush" {
		t.Errorf("Entrypoint = %q, want /usr/local/bin/hush", got)
	}

	want, err := os.ReadFile(hushBin)
	if err != nil {
		t.Fatal(err)
	}
	files := imageFiles(t, hushImage)
	if len(files) != 1 {
		names := make([]string, 0, len(files))
		for name := range files {
			names = append(names, name)
		}
		t.Fatalf("the image holds %d files %v, want exactly usr/local/bin/hush", len(files), names)
	}
	if got, ok := files["usr/local/bin/hush"]; !ok || !bytes.Equal(got, want) {
		t.Errorf("usr/local/bin/hush in the image (%d bytes) is not %s (%d bytes)", len(got), hushBin, len(want))
	}
}

// TestHushImageFromSource builds ./Dockerfile's default, from-source path
// with a stand-in golang image whose `go` checks what it is handed and
// writes a fake binary (testdata/go): no Go image can be pulled here, and
// build containers cannot reach the Go module proxy. What it proves is the
// recipe's wiring, not the compiler: the repository root with
// .dockerignore gives the Go stage the sources and nothing else, the build
// command is static and versioned, and the published image takes its one
// file from that stage.
func TestHushImageFromSource(t *testing.T) {
	needDocker(t)
	t.Parallel()
	golang := "hushtest-golang:" + runID
	ctxDir := t.TempDir()
	if err := copyFile("testdata/go", filepath.Join(ctxDir, "go"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := build(filepath.Join("testdata", "golang.Dockerfile"), ctxDir,
		"--build-arg", "BASE_IMAGE="+baseImage, "-t", golang); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dockerQuiet("rmi", "-f", golang) })

	stage, final := "hushtest-hush-source-stage:"+runID, "hushtest-hush-source:"+runID
	for _, b := range []struct {
		tag   string
		extra []string
	}{
		{stage, []string{"--target", "source"}},
		{final, nil}, // HUSH_BINARY defaults to source
	} {
		args := append([]string{"--build-arg", "GO_IMAGE=" + golang, "--build-arg", "VERSION=v0.0.0-dockertest", "-t", b.tag}, b.extra...)
		if err := build(filepath.Join(repoRoot, "Dockerfile"), repoRoot, args...); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dockerQuiet("rmi", "-f", b.tag) })
	}

	built := imageFiles(t, stage)
	context := strings.Fields(string(built["out/context.txt"]))
	for _, want := range []string{"go.mod", "go.sum", "cmd", "shim", "sources"} {
		if !slices.Contains(context, want) {
			t.Errorf("the Go stage's /src lacks %s: %v", want, context)
		}
	}
	for _, unwanted := range []string{".git", ".ci", "docs", "examples", "integration", "README.md", "Dockerfile", "Dockerfile.example"} {
		if slices.Contains(context, unwanted) {
			t.Errorf(".dockerignore lets %s into the Go stage's /src: %v", unwanted, context)
		}
	}
	cmdline := string(built["out/hush"])
	for _, want := range []string{"-trimpath", "-X main.version=v0.0.0-dockertest", "-o /out/hush ./cmd/hush", "CGO_ENABLED=0"} {
		if !strings.Contains(cmdline, want) {
			t.Errorf("the from-source build command lacks %q: %s", want, cmdline)
		}
	}

	files := imageFiles(t, final)
	if len(files) != 1 || !bytes.Equal(files["usr/local/bin/hush"], built["out/hush"]) {
		t.Errorf("the published image holds %d files, want exactly usr/local/bin/hush from the Go stage", len(files))
	}
}
