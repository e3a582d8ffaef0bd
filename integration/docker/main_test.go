// Package docker runs hush in real containers: images built with BuildKit
// build secrets, containers started by the Docker Engine and by Compose,
// and the Kubernetes examples decoded into the Kubernetes API types.
//
// No image can be pulled on hush's test machines, so TestMain builds every
// image it needs from local files:
//
//   - a base image that replaces node:22-alpine: busybox from Debian's
//     busybox-static package, the host's real node and npm with the shared
//     libraries node needs (hostnode_test.go), and a stand-in app for the
//     tests of hush as PID 1 (testdata/app, run as test-app);
//   - hush's own image from ./Dockerfile, packaging the binary built on the
//     host (HUSH_BINARY=prebuilt);
//   - the app of Dockerfile.example (context examples/node-app) on that
//     base, with a build secret passed by `docker build --secret`.
//
// The host needs busybox (Debian: busybox-static) and node with npm bundled
// (nodesource's nodejs package; Debian's own npm is split over many
// packages and is not supported). Tests that need an app which reports the
// signals it gets run test-app instead of the image's `node server.js`.
//
// Run from the module root, as a user who may talk to the Docker Engine:
//
//	go test ./integration/docker/
//	HUSH_BIN=bin/hush go test ./integration/docker/ -run TestRotation
//
// Every test skips, loudly, only when `docker info` fails. Everything the
// tests create carries the label hush.test.run=<run id> and is removed at the
// end, even when a test fails.
package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hushinit/hush/integration/internal/testbin"
)

// repoRoot is the module root, relative to this package's directory (go
// test runs tests there).
const repoRoot = "../.."

// Set by TestMain.
var (
	noDocker string // why the engine cannot be used; tests skip when set

	runID   string // unique per `go test` run: image tags, names, labels
	label   string // hush.test.run=<runID>, on every image and container
	workDir string // scratch space removed at the end

	hushBin string // the hush binary under test ($HUSH_BIN or built here)

	// buildCLI is a docker client that builds with BuildKit when
	// DOCKER_BUILDKIT=1 is set. See findBuildKit.
	buildCLI string

	baseImage string // busybox + node + npm + test-app + user node (uid 1000)
	hushImage string // ./Dockerfile, prebuilt path
	appImage  string // Dockerfile.example on baseImage, built with appBuildSecret

	// appBuildSecret is the value given to `docker build --secret
	// id=cms-secret` when appImage was built; the image must not hold it.
	appBuildSecret string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		noDocker = fmt.Sprintf("no Docker engine answers `docker info` (%v): %s", err, lastLine(out))
		fmt.Fprintf(os.Stderr, "\n%[1]s\n!!! SKIPPING every container test: %[2]s\n%[1]s\n\n",
			strings.Repeat("!", 78), noDocker)
		return m.Run()
	}
	var err error
	if workDir, err = os.MkdirTemp("", "hush-docker-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workDir)
	runID = randomHex(6)
	label = "hush.test.run=" + runID
	defer removeLabelled()

	if err := setUp(); err != nil {
		fmt.Fprintf(os.Stderr, "integration/docker: setting up: %v\n", err)
		return 1
	}
	return m.Run()
}

// setUp finds the binary and a BuildKit client, and builds the shared images.
func setUp() error {
	var err error
	if hushBin, err = testbin.Hush(workDir); err != nil {
		return err
	}

	baseImage = "hushtest-base:" + runID
	hushImage = "hushtest-hush:" + runID
	appImage = "hushtest-cms-site:" + runID

	ctxDir, err := baseContext()
	if err != nil {
		return err
	}
	if err := findBuildKit(ctxDir); err != nil {
		return err
	}
	if err := buildHushImage(); err != nil {
		return err
	}
	appBuildSecret = "cms-build-" + randomHex(16)
	secretFile := filepath.Join(workDir, "build-cms-secret.txt")
	if err := os.WriteFile(secretFile, []byte(appBuildSecret+"\n"), 0o600); err != nil {
		return err
	}
	return buildApp(appImage, secretFile)
}

// findBuildKit picks the docker client that builds with BuildKit, using the
// base image's build as the probe. The client on $PATH does when the buildx
// plugin is installed (Docker 23 and later dropped the built-in BuildKit
// client); Debian's docker.io client (20.10, /usr/bin/docker) still has it
// built in and drives the engine's embedded BuildKit. On hush's test
// machines the first is Docker's static client 28 without buildx, so the
// second does the building; every other command uses the first.
func findBuildKit(baseCtx string) error {
	var tried []string
	for _, cli := range buildClients() {
		buildCLI = cli
		err := buildBase(baseCtx)
		if err == nil {
			return nil
		}
		tried = append(tried, fmt.Sprintf("%s: %v", cli, err))
	}
	buildCLI = ""
	return fmt.Errorf("no docker client builds with BuildKit (RUN --mount and --secret need it); "+
		"install the buildx plugin (Debian: docker-buildx) or a client with BuildKit built in.\n%s",
		strings.Join(tried, "\n"))
}

func buildClients() []string {
	clients := []string{"docker"}
	onPath, _ := exec.LookPath("docker")
	onPath, _ = filepath.EvalSymlinks(onPath)
	for _, c := range []string{"/usr/bin/docker", "/usr/local/bin/docker"} {
		if real, err := filepath.EvalSymlinks(c); err == nil && real != onPath {
			clients = append(clients, c)
		}
	}
	return clients
}

// baseContext assembles the build context of the stand-in for
// node:22-alpine (testdata/base.Dockerfile): busybox with its applet links,
// the host's node and npm, and the stand-in app test-app.
func baseContext() (string, error) {
	ctxDir := filepath.Join(workDir, "base")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		return "", err
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox not found (Debian: busybox-static): %w", err)
	}
	if err := copyFile(busybox, filepath.Join(ctxDir, "busybox"), 0o755); err != nil {
		return "", err
	}
	if err := copyFile(filepath.Join("testdata", "app"), filepath.Join(ctxDir, "app"), 0o755); err != nil {
		return "", err
	}
	if err := copyHostNode(filepath.Join(ctxDir, "rootfs")); err != nil {
		return "", err
	}
	return ctxDir, nil
}

// buildBase builds the base image from the context baseContext assembled.
func buildBase(ctxDir string) error {
	return build(filepath.Join("testdata", "base.Dockerfile"), ctxDir, "-t", baseImage)
}

// buildHushImage builds ./Dockerfile's prebuilt path in a context that
// holds the Dockerfile, its .dockerignore and bin/hush, as `make build`
// leaves them in the repository.
func buildHushImage() error {
	ctxDir := filepath.Join(workDir, "hush-context")
	if err := os.MkdirAll(filepath.Join(ctxDir, "bin"), 0o755); err != nil {
		return err
	}
	for _, f := range []string{"Dockerfile", ".dockerignore"} {
		if err := copyFile(filepath.Join(repoRoot, f), filepath.Join(ctxDir, f), 0o644); err != nil {
			return err
		}
	}
	if err := copyFile(hushBin, filepath.Join(ctxDir, "bin", "hush"), 0o755); err != nil {
		return err
	}
	return build(filepath.Join(ctxDir, "Dockerfile"), ctxDir,
		"--build-arg", "HUSH_BINARY=prebuilt", "-t", hushImage)
}

// buildApp builds Dockerfile.example from examples/node-app on the base
// image, with secretFile as the build secret cms-secret. --no-cache because
// BuildKit leaves secret values out of its cache key: a cached `npm run
// build` from an earlier run would hold another run's secret digest.
func buildApp(tag, secretFile string, extra ...string) error {
	args := append([]string{
		"--no-cache",
		"--secret", "id=cms-secret,src=" + secretFile,
		"--build-arg", "NODE_IMAGE=" + baseImage,
		"--build-arg", "HUSH_IMAGE=" + hushImage,
		"-t", tag,
	}, extra...)
	return build(filepath.Join(repoRoot, "Dockerfile.example"), filepath.Join(repoRoot, "examples", "node-app"), args...)
}

// build runs a BuildKit build of dockerfile in ctxDir, labelled for clean-up.
func build(dockerfile, ctxDir string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	all := append([]string{"build", "--progress=plain", "--label", label, "-f", dockerfile}, args...)
	cmd := exec.CommandContext(ctx, buildCLI, append(all, ctxDir)...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", buildCLI, strings.Join(all, " "), err, tail(out, 40))
	}
	return nil
}

// removeLabelled removes every container, then every image, of this run.
func removeLabelled() {
	filter := "label=" + label
	if ids := strings.Fields(dockerQuiet("ps", "-aq", "--filter", filter)); len(ids) > 0 {
		dockerQuiet(append([]string{"rm", "-f", "-v"}, ids...)...)
	}
	if ids := strings.Fields(dockerQuiet("images", "-q", "--filter", filter)); len(ids) > 0 {
		dockerQuiet(append([]string{"rmi", "-f"}, uniq(ids)...)...)
	}
}

// needDocker skips t, loudly, when no engine answers.
func needDocker(t *testing.T) {
	t.Helper()
	if noDocker != "" {
		t.Skip("SKIPPED, NOT PASSED: " + noDocker)
	}
}

// dockerQuiet runs a docker command for clean-up: errors are ignored.
func dockerQuiet(args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "docker", args...).Output()
	return string(out)
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(to, mode)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func lastLine(b []byte) string {
	b = bytes.TrimSpace(b)
	return string(b[bytes.LastIndexByte(b, '\n')+1:])
}

// tail keeps the last n lines of a build log: the error is at the end.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
