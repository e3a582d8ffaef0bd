package docker

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// TestZeroDowntimeRotation runs the example as shipped, in a real container:
// Dockerfile.example's image, where hush is root without CAP_SYS_PTRACE;
// the real node serves examples/node-app as HUSH_USER=node on the socket
// hush holds (HUSH_LISTEN); HUSH_ON_CHANGE is rolling and no ready delay is
// set. Clients send requests back to back through the published port, each
// on a new connection, while the secret is rotated again and again. No
// request may fail, every new secret reaches the clients in order, and each
// switch is made because hush saw the new node accept on the socket
// (ready_by=probe), not by a delay or a timeout.
//
// Two ways to run it: `docker run` with Docker's default capabilities and
// the secret file bind-mounted and rewritten in place (as a Compose file
// secret), and the way examples/kubernetes/deployment.yaml runs it: its
// command, arguments, environment and capabilities, with the secret in a
// directory laid out and updated as the kubelet updates a secret volume.
func TestZeroDowntimeRotation(t *testing.T) {
	needDocker(t)
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, first string) (args []string, rotate func(value string))
	}{
		{"docker run, Docker's default capabilities", func(t *testing.T, first string) ([]string, func(string)) {
			s := newSecret(t)
			s.write(first)
			return []string{s.mount(), appImage}, s.write
		}},
		{"as examples/kubernetes/deployment.yaml", kubernetesDeployment},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rotateUnderLoad(t, tc.setup)
		})
	}
}

// rotateUnderLoad is TestZeroDowntimeRotation for one way of running the
// container: setup gives the docker run arguments (options, image and
// command) for a container whose secret is first, and the function that
// rotates it.
func rotateUnderLoad(t *testing.T, setup func(t *testing.T, first string) ([]string, func(string))) {
	const rotations = 10
	const clients = 2

	values := make([]string, rotations+1)
	digests := make([]string, rotations+1)
	for i := range values {
		values[i] = fmt.Sprintf("cms-rotation-%d-%s", i, randomHex(16))
		digests[i] = digest8(values[i])
	}
	args, rotate := setup(t, values[0])
	c := runContainer(t, append([]string{"--env=HUSH_DEBOUNCE=200ms", "--publish=127.0.0.1::3000"}, args...)...)
	first := c.waitServing(1)[0]
	if first.uid != 1000 || first.digest != digests[0] {
		t.Fatalf("node serves as uid %d with sha256 %s…, want uid 1000 (node) and %s…", first.uid, first.digest, digests[0])
	}
	status, err := c.exec("cat", "/proc/1/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{"CapEff:", "CapBnd:"} {
		if capabilityIn(t, status, set, capSysPtrace) {
			t.Fatalf("hush (PID 1) has CAP_SYS_PTRACE in %s: the container is not what this test is about\n%s", set, status)
		}
	}
	before, _ := c.inspect()
	node := c.waitOneNode()

	l := startLoad(t, "http://"+c.publishedAddr("3000/tcp")+"/", digests, clients)
	l.waitSeen(t, 0)
	for i := 1; i <= rotations; i++ {
		rotate(values[i])
		l.waitSeen(t, i)
		c.waitLog(fmt.Sprintf("rotation %d: the switch", i), func(logs string) bool {
			return len(readyBy.FindAllString(logs, -1)) >= i
		})
		prev := node
		if node = c.waitOneNode(); node == prev {
			t.Fatalf("rotation %d: node pid %d is still the only one: it was not replaced", i, node)
		}
	}
	r := l.stop()
	t.Logf("%d requests from %d clients, %d failed, %d rotations", r.requests, clients, r.failed, rotations)

	if r.failed != 0 {
		t.Errorf("%d of %d requests failed; the first: %s", r.failed, r.requests, strings.Join(r.errors, "; "))
	}
	if !slices.Equal(r.seen, digests) {
		t.Errorf("clients saw the secrets' digests in the order %v, want %v", r.seen, digests)
	}
	logs := c.logs()
	var how []string
	for _, m := range readyBy.FindAllStringSubmatch(logs, -1) {
		how = append(how, m[1])
	}
	if len(how) != rotations || slices.ContainsFunc(how, func(h string) bool { return h != "probe" }) {
		t.Errorf("generations were taken as ready by %v, want %d times probe\n%s", how, rotations, logs)
	}
	for _, bad := range []string{"not ready within", "cannot see whether", "level=ERROR"} {
		if strings.Contains(logs, bad) {
			t.Errorf("hush logged %q:\n%s", bad, logs)
		}
	}
	var started []string
	for _, sv := range parseServing(logs) {
		started = append(started, sv.digest)
	}
	if !slices.Equal(started, digests) {
		t.Errorf("node processes started with %v, want one per secret, in order: %v", started, digests)
	}
	if nodes := c.nodePids(); len(nodes) != 1 {
		t.Errorf("%d node processes at the end, want 1: %v", len(nodes), c.procs())
	}
	after, _ := c.inspect()
	if !after.State.Running || after.State.Pid != before.State.Pid || after.RestartCount != 0 {
		t.Errorf("the container did not keep running: before pid %d, after running=%v pid %d restarts %d\n%s",
			before.State.Pid, after.State.Running, after.State.Pid, after.RestartCount, c.describe())
	}
	for _, v := range values {
		if strings.Contains(logs, v) {
			t.Fatalf("a secret value is in the logs")
		}
	}
}

// kubernetesDeployment turns the app container of
// examples/kubernetes/deployment.yaml into docker run arguments: its
// command (hush) and arguments, its environment, its capabilities (and
// no-new-privileges for allowPrivilegeEscalation: false), and its secret
// volume, a directory the test updates as the kubelet would.
func kubernetesDeployment(t *testing.T, first string) ([]string, func(string)) {
	var d appsv1.Deployment
	file := filepath.Join(repoRoot, "examples", "kubernetes", "deployment.yaml")
	for _, doc := range yamlDocuments(t, file) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Kind == "Deployment" {
			if err := yaml.UnmarshalStrict(doc, &d); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want the app's one", file, len(pod.Containers))
	}
	app := pod.Containers[0]
	if len(app.Command) == 0 {
		t.Fatalf("%s: the container has no command", file)
	}

	args := []string{"--entrypoint=" + app.Command[0]}
	for _, e := range app.Env {
		if e.ValueFrom != nil {
			t.Fatalf("%s: %s comes from valueFrom, which this test does not emulate", file, e.Name)
		}
		args = append(args, "--env="+e.Name+"="+e.Value)
	}
	if sc := app.SecurityContext; sc != nil {
		if sc.Capabilities != nil {
			for _, c := range sc.Capabilities.Drop {
				args = append(args, "--cap-drop="+string(c))
			}
			for _, c := range sc.Capabilities.Add {
				args = append(args, "--cap-add="+string(c))
			}
		}
		if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
			args = append(args, "--security-opt=no-new-privileges")
		}
	}
	var volume *kubeletVolume
	for _, m := range app.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			if volume != nil {
				t.Fatalf("%s: more than one secret volume", file)
			}
			var names []string
			for _, item := range v.Secret.Items {
				names = append(names, item.Path)
			}
			if len(names) == 0 {
				t.Fatalf("%s: secret volume %s lists no items; this test needs to know the file names", file, v.Name)
			}
			volume = newKubeletVolume(t, names, first)
			args = append(args, "--volume="+volume.dir+":"+m.MountPath+":ro")
		}
	}
	if volume == nil {
		t.Fatalf("%s: no secret volume mounted", file)
	}
	args = append(args, appImage)
	args = append(args, app.Command[1:]...)
	return append(args, app.Args...), volume.update
}

// kubeletVolume is a directory laid out the way the kubelet lays out a
// secret volume: each file is a link through ..data, which links to a
// timestamped directory; an update writes a new directory and replaces
// ..data in one rename. The files are root's, mode 0400 (the manifest's
// defaultMode).
type kubeletVolume struct {
	t     *testing.T
	dir   string
	names []string
	n     int
}

func newKubeletVolume(t *testing.T, names []string, value string) *kubeletVolume {
	v := &kubeletVolume{t: t, dir: t.TempDir(), names: names}
	v.update(value)
	for _, name := range names {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func (v *kubeletVolume) update(value string) {
	v.n++
	stamp := fmt.Sprintf("..2026_12_02_12_00_00.%09d", v.n)
	if err := os.Mkdir(filepath.Join(v.dir, stamp), 0o755); err != nil {
		v.t.Fatal(err)
	}
	for _, name := range v.names {
		if err := os.WriteFile(filepath.Join(v.dir, stamp, name), []byte(value), 0o400); err != nil {
			v.t.Fatal(err)
		}
	}
	data := filepath.Join(v.dir, "..data")
	old, _ := os.Readlink(data)
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(stamp, tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, data); err != nil {
		v.t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(v.dir, old)); err != nil {
			v.t.Fatal(err)
		}
	}
}

// readyBy matches hush's log line for a generation taken as ready.
var readyBy = regexp.MustCompile(`new generation ready.* ready_by=(\S+)`)

const capSysPtrace = 19 // linux/capability.h

// capabilityIn reports whether the set named by prefix ("CapEff:") in a
// /proc/PID/status holds capability c.
func capabilityIn(t *testing.T, status, prefix string, c int) bool {
	t.Helper()
	line := lineWith(status, prefix)
	caps, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, prefix)), 16, 64)
	if err != nil {
		t.Fatalf("no %s set in /proc/PID/status: %v\n%s", prefix, err, status)
	}
	return caps&(1<<c) != 0
}

// publishedAddr is the host address Docker published the container's port
// on (`docker port`).
func (c *container) publishedAddr(port string) string {
	c.t.Helper()
	out := strings.Fields(docker(c.t, "port", c.name, port))
	if len(out) == 0 {
		c.t.Fatalf("docker port %s %s: nothing published", c.name, port)
	}
	return out[0]
}

// A load is clients sending requests back to back until stopped. Each
// answer must come from a generation the test started: digests[i] is the
// secret of the i-th. A rotation begins only once a client has seen the
// previous one's secret and the generation before it has exited, so a
// request sent after secret n was seen is answered by generation n-1
// (still serving during an overlap), n or n+1, never an older one.
type load struct {
	digests []string
	quit    chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	requests int
	failed   int
	errors   []string // the first few failures
	seen     []string // digests, in the order they were first answered
	newest   int      // index in digests of the newest answer, -1 before any
}

type loadResult struct {
	requests, failed int
	errors           []string
	seen             []string
}

func startLoad(t *testing.T, url string, digests []string, clients int) *load {
	l := &load{digests: digests, quit: make(chan struct{}), newest: -1}
	for range clients {
		l.wg.Add(1)
		go l.client(url)
	}
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) client(url string) {
	defer l.wg.Done()
	client := newConnClient()
	for {
		select {
		case <-l.quit:
			return
		default:
		}
		l.mu.Lock()
		newestAtSend := l.newest
		l.mu.Unlock()
		a, err := getAnswer(client, url)
		l.record(a, err, newestAtSend)
	}
}

func (l *load) record(a appAnswer, err error, newestAtSend int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests++
	if err == nil {
		err = l.check(a, newestAtSend)
	}
	if err != nil {
		l.failed++
		if len(l.errors) < 5 {
			l.errors = append(l.errors, err.Error())
		}
		return
	}
	if i := slices.Index(l.digests, a.CmsSecretSha256); i > l.newest {
		l.newest = i
		l.seen = append(l.seen, a.CmsSecretSha256)
	}
}

// check says what is wrong with an answer to a request sent when the
// newest secret seen was newestAtSend. l.mu is held.
func (l *load) check(a appAnswer, newestAtSend int) error {
	if a.UID != 1000 {
		return fmt.Errorf("answered by uid %d, want 1000 (node)", a.UID)
	}
	i := slices.Index(l.digests, a.CmsSecretSha256)
	switch {
	case i < 0:
		return fmt.Errorf("answered with sha256 %s…, no secret of this test", a.CmsSecretSha256)
	case i < newestAtSend-1:
		return fmt.Errorf("answered with secret %d, sent after secret %d was seen", i, newestAtSend)
	case i > l.newest+1:
		return fmt.Errorf("answered with secret %d before secret %d was seen", i, l.newest+1)
	}
	return nil
}

// waitSeen waits until some client got an answer with digests[i].
func (l *load) waitSeen(t *testing.T, i int) {
	t.Helper()
	eventually(t, fmt.Sprintf("a client to see secret %d (sha256 %s…)", i, l.digests[i]), func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.newest >= i
	}, func() string {
		l.mu.Lock()
		defer l.mu.Unlock()
		return fmt.Sprintf("%d requests, %d failed %v, seen %v", l.requests, l.failed, l.errors, l.seen)
	})
}

// stop ends the clients and returns the figures; it may be called again.
func (l *load) stop() loadResult {
	select {
	case <-l.quit:
	default:
		close(l.quit)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return loadResult{requests: l.requests, failed: l.failed, errors: slices.Clone(l.errors), seen: slices.Clone(l.seen)}
}
