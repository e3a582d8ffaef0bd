package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// patience bounds every wait for a condition. It is generous on purpose:
// the tests share a small machine, and they assert what happens, never how
// fast (the one exception, docker stop, says why where it is).
const patience = 60 * time.Second

// docker runs the docker client and returns its standard output; a failure
// ends the test with the command's output.
func docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := dockerErr(args...)
	if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// dockerErr runs the docker client; the error carries standard error.
func dockerErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%v: %s%s", err, out, stderr.String())
	}
	return string(out), nil
}

var nameCounter atomic.Int64

// uniqueName is a container or project name for this run and test.
func uniqueName(prefix string) string {
	return fmt.Sprintf("hushtest-%s-%s-%d", prefix, runID, nameCounter.Add(1))
}

// A container is one started with runContainer; t.Cleanup removes it.
type container struct {
	t    *testing.T
	name string
}

// runContainer starts `docker run -d` with args (options, image, command)
// under a unique name and this run's label.
func runContainer(t *testing.T, args ...string) *container {
	t.Helper()
	c := &container{t: t, name: uniqueName(strings.ToLower(sanitize(t.Name())))}
	t.Cleanup(func() { dockerQuiet("rm", "-f", "-v", c.name) })
	docker(t, append([]string{"run", "-d", "--name", c.name, "--label", label}, args...)...)
	return c
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

func sanitize(s string) string {
	s = unsafeName.ReplaceAllString(s, "-")
	if len(s) > 40 {
		s = s[len(s)-40:]
	}
	return strings.Trim(s, "-.")
}

// logs returns everything the container wrote, stdout and stderr together.
func (c *container) logs() string {
	out, err := exec.Command("docker", "logs", c.name).CombinedOutput()
	if err != nil {
		c.t.Fatalf("docker logs %s: %v\n%s", c.name, err, out)
	}
	return string(out)
}

// waitLog polls the logs until cond holds, and returns them.
func (c *container) waitLog(what string, cond func(logs string) bool) string {
	c.t.Helper()
	var logs string
	eventually(c.t, what, func() bool {
		logs = c.logs()
		return cond(logs)
	}, func() string { return c.describe() })
	return logs
}

// waitStarts waits until the app has started n times and returns each
// start's line, in order.
func (c *container) waitStarts(n int) []appStart {
	c.t.Helper()
	var starts []appStart
	c.waitLog(fmt.Sprintf("%d app start(s)", n), func(logs string) bool {
		starts = parseStarts(logs)
		return len(starts) >= n
	})
	return starts
}

// exec runs a command inside the running container, as root.
func (c *container) exec(args ...string) (string, error) {
	return dockerErr(append([]string{"exec", c.name}, args...)...)
}

// containerState is the part of `docker inspect` the tests read.
type containerState struct {
	Config struct {
		Env []string
	}
	State struct {
		Status   string
		Running  bool
		Pid      int
		ExitCode int
	}
	RestartCount int
}

func (c *container) inspect() (containerState, string) {
	c.t.Helper()
	raw := docker(c.t, "inspect", c.name)
	var states []containerState
	if err := json.Unmarshal([]byte(raw), &states); err != nil || len(states) != 1 {
		c.t.Fatalf("docker inspect %s: %v\n%s", c.name, err, raw)
	}
	return states[0], raw
}

// waitExit waits for the container to stop and returns its exit status.
func (c *container) waitExit() int {
	c.t.Helper()
	var st containerState
	eventually(c.t, "the container to exit", func() bool {
		st, _ = c.inspect()
		return !st.State.Running && st.State.Status != "created"
	}, c.describe)
	return st.State.ExitCode
}

// describe is what a failure message shows about the container.
func (c *container) describe() string {
	out, _ := exec.Command("docker", "inspect", "--format",
		"status={{.State.Status}} exit={{.State.ExitCode}} pid={{.State.Pid}} error={{.State.Error}}", c.name).CombinedOutput()
	logs, _ := exec.Command("docker", "logs", c.name).CombinedOutput()
	return fmt.Sprintf("container %s: %s\n--- logs ---\n%s", c.name, strings.TrimSpace(string(out)), logs)
}

// An appStart is one "app: start" line of the stand-in app (testdata/app,
// test-app in the image).
type appStart struct {
	pid, uid int
	sha256   string // of the CMS_SECRET the app got
}

var startLine = regexp.MustCompile(`(?m)^app: start pid=(\d+) uid=(\d+) cms_secret_sha256=([0-9a-f]{64})$`)

func parseStarts(logs string) []appStart {
	var out []appStart
	for _, m := range startLine.FindAllStringSubmatch(logs, -1) {
		pid, _ := strconv.Atoi(m[1])
		uid, _ := strconv.Atoi(m[2])
		out = append(out, appStart{pid: pid, uid: uid, sha256: m[3]})
	}
	return out
}

// A serving is the line examples/node-app/server.js logs once it accepts on
// the socket hush passed (fd 3): one per node process, in the order they
// got that far. A node that had to bind the port itself (no LISTEN_FDS for
// its pid) logs "listening on", which does not count.
type serving struct {
	uid    int
	digest string // of the CMS_SECRET it got: sha256, first 8 hex digits
}

var servingLine = regexp.MustCompile(`(?m)^cms-site: serving the socket hush passed as uid (\d+), CMS token sha256 ([0-9a-f]{8})…$`)

func parseServing(logs string) []serving {
	var out []serving
	for _, m := range servingLine.FindAllStringSubmatch(logs, -1) {
		uid, _ := strconv.Atoi(m[1])
		out = append(out, serving{uid: uid, digest: m[2]})
	}
	return out
}

// waitServing waits until n node processes have logged that they serve
// the socket, and returns their lines in order.
func (c *container) waitServing(n int) []serving {
	c.t.Helper()
	var out []serving
	c.waitLog(fmt.Sprintf("%d node process(es) serving the socket", n), func(logs string) bool {
		out = parseServing(logs)
		return len(out) >= n
	})
	return out
}

// nodePids lists the container's `node server.js` processes.
func (c *container) nodePids() []int {
	c.t.Helper()
	var pids []int
	for _, p := range c.procs() {
		if p.args == "node server.js" {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// waitOneNode waits until exactly one node process is left (the previous
// generation has exited after a rolling rotation) and returns its pid.
func (c *container) waitOneNode() int {
	c.t.Helper()
	var pids []int
	eventually(c.t, "exactly one node process", func() bool {
		pids = c.nodePids()
		return len(pids) == 1
	}, func() string { return fmt.Sprint(c.procs()) })
	return pids[0]
}

// digest8 is how server.js shows the secret it runs with: the first 8 hex
// digits of its sha256.
func digest8(s string) string { return sha256hex(s)[:8] }

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// eventually polls cond until it holds or patience runs out; then the test
// fails with what it waited for and detail().
func eventually(t testing.TB, what string, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s\n%s", patience, what, detail())
		}
		time.Sleep(delay)
	}
}

// appAnswer is what server.js answers to every request.
type appAnswer struct {
	CmsSecretSha256 string `json:"cmsSecretSha256"`
	UID             int    `json:"uid"`
}

// newConnClient sends every request on a new connection, the case a held
// socket protects: no connection is reused across a generation's exit.
func newConnClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: patience}
}

func getAnswer(client *http.Client, url string) (appAnswer, error) {
	var a appAnswer
	resp, err := client.Get(url)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return a, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("status %s: %q", resp.Status, body)
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return a, fmt.Errorf("answer %q: %w", body, err)
	}
	return a, nil
}

// getApp is one request to the app; a failure ends the test.
func getApp(t *testing.T, url string) appAnswer {
	t.Helper()
	var a appAnswer
	var err error
	eventually(t, "an answer from "+url, func() bool {
		a, err = getAnswer(newConnClient(), url)
		return err == nil
	}, func() string { return fmt.Sprint(err) })
	return a
}

// A secret is a value in a host file that a test bind-mounts into a
// container, the way Compose mounts file secrets.
type secret struct {
	t     *testing.T
	path  string
	value string
}

// newSecret writes a fresh random value, followed by a newline as editors
// leave it (hush trims one), to a new file with mode 0600.
func newSecret(t *testing.T) *secret {
	t.Helper()
	s := &secret{t: t, path: filepath.Join(t.TempDir(), "cms-secret")}
	s.write("cms-" + randomHex(16))
	return s
}

// write replaces the file's content in place (same inode), as
// `printf %s NEW > file` does.
func (s *secret) write(value string) {
	s.t.Helper()
	s.value = value
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := f.WriteString(value + "\n"); err != nil {
		s.t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		s.t.Fatal(err)
	}
}

// mount is the docker run option that mounts the file where the image's
// reference points, read-only, like a Compose secret.
func (s *secret) mount() string {
	return "--volume=" + s.path + ":/run/secrets/cms-secret:ro"
}
