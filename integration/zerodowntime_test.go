package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A testServer is one of the HTTP servers in testdata/servers, run by a real
// runtime: each answers with the secret it was started with.
type testServer struct {
	name string   // for test names
	comm string   // its process name in /proc
	argv []string // how to run it
}

func serverPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "servers", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func nodeServer(t *testing.T) testServer {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed (make deps installs Debian's nodejs): %v", err)
	}
	return testServer{name: "node", comm: "node", argv: []string{node, serverPath(t, "server.js")}}
}

// pythonServer runs server.py in mode asyncio (epoll) or threaded (poll).
func pythonServer(t *testing.T, mode string) testServer {
	t.Helper()
	// Debian's interpreter, readable by every user (the --user tests).
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("python3 is needed (make deps installs it): %v", err)
	}
	return testServer{name: "python-" + mode, comm: "python3", argv: []string{py, serverPath(t, "server.py"), mode}}
}

// freePort finds a TCP port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// loadWorkers is how many requests a loadClient keeps in flight. Several,
// so that connections are usually queued when an old generation gets its
// stop signal: a server that loses connections it accepted just before it
// stopped accepting (asyncio's Server.close, see testdata/servers/server.py)
// then fails requests in most runs of 20 rotations, where one sequential
// client saw it about once in 10,000 requests.
const loadWorkers = 32

// A loadClient runs loadWorkers workers, each sending requests one after
// another, each on a new connection, until stopped, and records every
// answer. A failed request is not sent again: a client that is not told
// whether its request was processed cannot safely repeat it, so zero
// failures means zero.
type loadClient struct {
	url    string
	cancel context.CancelFunc
	done   sync.WaitGroup

	mu      sync.Mutex
	answers [][]string // per worker, in the order sent: body, or "ERR: ..."
	seenSet map[string]bool
	worst   time.Duration
}

func startClient(t *testing.T, port int) *loadClient {
	ctx, cancel := context.WithCancel(context.Background())
	c := &loadClient{
		url:     fmt.Sprintf("http://127.0.0.1:%d/", port),
		cancel:  cancel,
		answers: make([][]string, loadWorkers),
		seenSet: map[string]bool{},
	}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	for w := range loadWorkers {
		c.done.Add(1)
		go func() {
			defer c.done.Done()
			for ctx.Err() == nil {
				began := time.Now()
				answer := get(ctx, client, c.url)
				took := time.Since(began)
				if ctx.Err() != nil {
					return
				}
				c.mu.Lock()
				c.answers[w] = append(c.answers[w], answer)
				c.seenSet[answer] = true
				if took > c.worst {
					c.worst = took
				}
				c.mu.Unlock()
			}
		}()
	}
	t.Cleanup(c.stop)
	return c
}

func get(ctx context.Context, client *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "ERR: " + err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return "ERR: " + err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "ERR: " + err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return "ERR: status " + resp.Status
	}
	return strings.TrimSpace(string(b))
}

func (c *loadClient) stop() {
	c.cancel()
	c.done.Wait()
}

// snapshot is every worker's answers so far.
func (c *loadClient) snapshot() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]string, len(c.answers))
	for w, a := range c.answers {
		out[w] = append([]string(nil), a...)
	}
	return out
}

// total is how many requests were answered or failed.
func (c *loadClient) total() int {
	n := 0
	for _, a := range c.snapshot() {
		n += len(a)
	}
	return n
}

// seen reports whether an answer equal to v came back.
func (c *loadClient) seen(v string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seenSet[v]
}

// failures lists the failed requests.
func (c *loadClient) failures() []string {
	var out []string
	for _, worker := range c.snapshot() {
		for _, a := range worker {
			if strings.HasPrefix(a, "ERR") {
				out = append(out, a)
			}
		}
	}
	return out
}

// serverProcs lists hush's descendants that run the server's runtime.
func serverProcs(r *hushRun, comm string) []int {
	var out []int
	for _, pid := range taggedPids(r.tag) {
		if procComm(pid) == comm && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// rotateUnderLoad starts srv behind hush with args, rotates its secret n
// times while a client sends requests, and returns the client (stopped).
// After each rotation it waits for clients to see the new value and for
// exactly one server process to be left when checkOne is set.
func rotateUnderLoad(t *testing.T, srv testServer, n int, checkOne bool, args ...string) *loadClient {
	t.Helper()
	port := freePort(t)
	path := filepath.Join(t.TempDir(), "secret")
	writeFile(t, path, "v1")
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "PORT", strconv.Itoa(port))
	}
	argv := append(append([]string{"--debounce", "50ms"}, args...), "--")
	argv = append(argv, srv.argv...)
	r := startOpts(t, modes[0], opts{env: []string{
		"SECRET=ref+file://" + path, "PORT=" + strconv.Itoa(port), "WARMUP_MS=300",
	}}, argv...)
	r.eventually("the server to answer", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	c := startClient(t, port)
	for i := 2; i <= n; i++ {
		v := "v" + strconv.Itoa(i)
		writeFile(t, path, v)
		r.eventually("clients to see "+v, func() bool { return c.seen(v) })
		if checkOne {
			r.eventually("one generation left after rotation "+strconv.Itoa(i), func() bool {
				return len(serverProcs(r, srv.comm)) == 1
			})
		}
	}
	// The caller judges the answers after this returns: show hush's log
	// whenever the test ends failed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hush's log:\n%s", r.stderr)
		}
	})
	c.stop()
	r.signal(syscall.SIGTERM)
	r.wait()
	return c
}

// checkOrder: every value v1..vn was seen, and no worker got an answer
// older than vK-1 (the generation being replaced) after it had seen vK:
// the generation before that one had exited before vK+1 was written.
// First sightings are in order by construction (vK+1 is written once vK
// was seen); one worker may miss a value while its own request is slow.
func checkOrder(t *testing.T, workers [][]string, n int) {
	t.Helper()
	seen := make([]bool, n+1)
	for w, answers := range workers {
		newest := 0
		for i, a := range answers {
			if strings.HasPrefix(a, "ERR") {
				continue
			}
			k, err := strconv.Atoi(strings.TrimPrefix(a, "v"))
			if err != nil || k < 1 || k > n {
				t.Fatalf("worker %d, answer %d is %q, not a value the test wrote", w, i, a)
			}
			if k < newest-1 {
				t.Fatalf("worker %d, answer %d is v%d after v%d was seen: an old generation answered", w, i, k, newest)
			}
			newest = max(newest, k)
			seen[k] = true
		}
	}
	for k := 1; k <= n; k++ {
		if !seen[k] {
			t.Fatalf("v%d was never seen", k)
		}
	}
}

// TestRollingUnderLoad: real servers behind --listen --on-change rolling
// rotate 20 times under continuous requests from several workers at once:
// no request fails (none is sent again), every rotation is seen in order,
// one generation is left after each. The same
// run with --on-change restart and no --listen does fail requests, so the
// zero is a real measurement.
func TestRollingUnderLoad(t *testing.T) {
	t.Parallel()
	const rotations = 20
	for _, srv := range []testServer{nodeServer(t), pythonServer(t, "asyncio")} {
		t.Run(srv.name, func(t *testing.T) {
			t.Run("rolling", func(t *testing.T) {
				c := rotateUnderLoad(t, srv, rotations+1, true,
					"--listen", "tcp://127.0.0.1:PORT", "--on-change", "rolling")
				if f := c.failures(); len(f) > 0 {
					t.Errorf("%d of %d requests failed, first: %s", len(f), c.total(), f[0])
				}
				checkOrder(t, c.snapshot(), rotations+1)
				t.Logf("%d requests by %d workers across %d rotations, %d failed, worst wait %v",
					c.total(), loadWorkers, rotations, len(c.failures()), c.worst)
			})
			t.Run("restart without --listen fails requests", func(t *testing.T) {
				c := rotateUnderLoad(t, srv, 6, false, "--on-change", "restart")
				if len(c.failures()) == 0 {
					t.Errorf("no request failed in %d across 5 stop-then-start restarts: the load test cannot tell", c.total())
				}
			})
		})
	}
}

// TestListenEnvironment: the sockets arrive at 3, 4, ... with LISTEN_FDS,
// LISTEN_FDNAMES and LISTEN_PID equal to the child's own pid, exactly what
// sd_listen_fds(3) checks, for TCP and unix sockets; nothing else is
// passed; a unix socket gets the requested mode.
func TestListenEnvironment(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		dir := t.TempDir()
		sock := filepath.Join(dir, "app.sock")
		port := freePort(t)
		// The child reports what sd_listen_fds would see, then ls lists
		// every descriptor it has (its own one for /proc/self/fd too).
		script := `echo "pid=$$ fds=$LISTEN_FDS listen_pid=$LISTEN_PID names=$LISTEN_FDNAMES"; exec ls -l /proc/self/fd`
		r := startOpts(t, m, opts{env: []string{"LISTEN_FDS=9", "LISTEN_PID=1"}},
			"--listen", fmt.Sprintf("tcp://127.0.0.1:%d", port),
			"--listen", "unix://"+sock+"?name=api&mode=0600",
			"--", "sh", "-c", script)
		r.expectExit(0)
		// The whole stream, not what the reader had copied when hush
		// exited.
		out := r.stdout.all(t)
		var pid, fds, lpid, names string
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "pid=") {
				fmt.Sscanf(line, "pid=%s fds=%s listen_pid=%s names=%s", &pid, &fds, &lpid, &names)
			}
		}
		if pid == "" || lpid != pid || fds != "2" || names != fmt.Sprintf("127.0.0.1_%d:api", port) {
			t.Errorf("want LISTEN_PID = the child's pid, LISTEN_FDS=2, names 127.0.0.1_%d:api; got\n%s", port, out)
		}
		var open []string
		for _, line := range strings.Split(out, "\n") {
			// ls -l: ... NAME -> TARGET
			if f := strings.Fields(line); len(f) > 3 && f[len(f)-2] == "->" {
				n, _ := strconv.Atoi(f[len(f)-3])
				if n > 2 {
					open = append(open, f[len(f)-3]+" "+f[len(f)-1])
				}
			}
		}
		sort.Strings(open)
		// sh's own descriptor for the glob (if any) is a directory.
		if len(open) < 2 || !strings.HasPrefix(open[0], "3 socket:") || !strings.HasPrefix(open[1], "4 socket:") {
			t.Fatalf("want sockets at 3 and 4, got %q", open)
		}
		for _, o := range open[2:] {
			if !strings.Contains(o, "/proc/") {
				t.Errorf("descriptor leaked into the child: %s", o)
			}
		}
		fi, err := os.Stat(sock)
		if err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("socket mode = %v, want 0600", fi.Mode().Perm())
		}
	})
}

// TestListenSdListenFds: a Python program using the exact check of
// sd_listen_fds(3) (LISTEN_PID == getpid(), fds from 3) accepts on both
// inherited sockets.
func TestListenSdListenFds(t *testing.T) {
	t.Parallel()
	pythonServer(t, "asyncio") // python3 is there
	dir := t.TempDir()
	sock := filepath.Join(dir, "app.sock")
	port := freePort(t)
	prog := `
import os, socket
assert os.environ["LISTEN_PID"] == str(os.getpid()), "LISTEN_PID is not ours"
n = int(os.environ["LISTEN_FDS"])
names = os.environ["LISTEN_FDNAMES"].split(":")
for i in range(n):
    s = socket.socket(fileno=3 + i)
    c, _ = s.accept()
    c.sendall(names[i].encode() + b"\n")
    c.close()
print("served", n)
`
	r := startOpts(t, modes[0], opts{},
		"--listen", fmt.Sprintf("tcp://127.0.0.1:%d?name=web", port),
		"--listen", "unix://"+sock+"?name=admin",
		"--", "/usr/bin/python3", "-c", prog)
	for _, target := range []struct{ network, addr, want string }{
		{"tcp", fmt.Sprintf("127.0.0.1:%d", port), "web"},
		{"unix", sock, "admin"},
	} {
		var got string
		r.eventually("an answer on "+target.addr, func() bool {
			conn, err := net.Dial(target.network, target.addr)
			if err != nil {
				return false
			}
			defer conn.Close()
			b, _ := io.ReadAll(conn)
			got = strings.TrimSpace(string(b))
			return true
		})
		if got != target.want {
			t.Errorf("%s answered %q, want %q", target.addr, got, target.want)
		}
	}
	r.expectExit(0)
}

// TestListenPrivilegedPortAsUser: hush opens port 80-something as root
// before the child runs as nobody, who serves it.
func TestListenPrivilegedPortAsUser(t *testing.T) {
	t.Parallel()
	port := 0
	for p := 800; p < 1000; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			port = p
			break
		}
	}
	if port == 0 {
		t.Fatal("no free port below 1024")
	}
	srv := pythonServer(t, "asyncio")
	r := startOpts(t, modes[0], opts{env: []string{"SECRET=plain"}},
		append([]string{"--user", "nobody", "--listen", fmt.Sprintf("tcp://127.0.0.1:%d", port), "--"}, srv.argv...)...)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	var body string
	r.eventually("the unprivileged server to answer on port "+strconv.Itoa(port), func() bool {
		body = get(context.Background(), http.DefaultClient, url)
		return !strings.HasPrefix(body, "ERR")
	})
	if body != "plain" {
		t.Errorf("answer %q, want plain", body)
	}
	pids := serverProcs(r, "python3")
	if len(pids) != 1 {
		t.Fatalf("server processes: %v", pids)
	}
	if uid := procUID(t, pids[0]); uid != "65534" {
		t.Errorf("server runs as uid %s, want nobody (65534)", uid)
	}
	r.signal(syscall.SIGTERM)
	r.expectExit(0)
}

func procUID(t *testing.T, pid int) string {
	return statusField(t, pid, "Uid:")
}

// statusField is the first value of the line key ("Uid:", "CapEff:") of
// /proc/PID/status, or "" if there is none.
func statusField(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == key {
			return f[1]
		}
	}
	return ""
}

// rollingRun is a server behind --listen --on-change rolling whose secret
// the test changes.
type rollingRun struct {
	*hushRun
	path string
	url  string
}

func startRolling(t *testing.T, srv testServer, env []string, args ...string) *rollingRun {
	t.Helper()
	port := freePort(t)
	path := filepath.Join(t.TempDir(), "secret")
	writeFile(t, path, "v1")
	argv := append([]string{"--debounce", "50ms", "--listen", fmt.Sprintf("tcp://127.0.0.1:%d", port),
		"--on-change", "rolling"}, args...)
	argv = append(append(argv, "--"), srv.argv...)
	r := startOpts(t, modes[0], opts{env: append([]string{"SECRET=ref+file://" + path}, env...)}, argv...)
	rr := &rollingRun{hushRun: r, path: path, url: fmt.Sprintf("http://127.0.0.1:%d/", port)}
	rr.waitAnswer("v1")
	return rr
}

func (rr *rollingRun) answer() string {
	return get(context.Background(), &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}, rr.url)
}

func (rr *rollingRun) waitAnswer(v string) {
	rr.t.Helper()
	rr.eventually("the server to answer "+v, func() bool { return rr.answer() == v })
}

// TestRollingReadiness: each way a new generation is seen to be ready
// (READY=1 on its NOTIFY_SOCKET, its epoll watching the inherited socket,
// --ready-delay) leads to the switch; the log says which.
func TestRollingReadiness(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		srv   testServer
		env   []string
		args  []string
		ready string
	}{
		{"notify", pythonServer(t, "threaded"), []string{"NOTIFY=1"}, nil, "ready_by=notify"},
		{"epoll node", nodeServer(t), nil, nil, "ready_by=probe"},
		{"epoll python asyncio", pythonServer(t, "asyncio"), nil, nil, "ready_by=probe"},
		{"delay", pythonServer(t, "threaded"), nil, []string{"--ready-delay", "300ms"}, "ready_by=ready-delay"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rr := startRolling(t, c.srv, c.env, c.args...)
			secret := uniqueSecret(t)
			writeFile(t, rr.path, secret)
			rr.waitAnswer(secret)
			rr.eventually("the switch to be logged", func() bool {
				return strings.Contains(rr.stderr.String(), c.ready)
			})
			rr.eventually("the old generation to stop", func() bool { return len(serverProcs(rr.hushRun, c.srv.comm)) == 1 })
			rr.signal(syscall.SIGTERM)
			rr.expectExit(0)
			// The new paths (trampoline, notify socket, readiness) carry
			// the environment only to the child.
			if logs := rr.stderr.all(t); strings.Contains(logs, secret) {
				t.Errorf("the secret leaked into hush's log:\n%s", logs)
			}
		})
	}
}

// TestRollingFailures: a new generation that crashes, or never becomes
// ready, is stopped; the old one keeps serving its secret; the next change
// is tried again.
func TestRollingFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, bad, log string
	}{
		{"crashes", "crash", "exited before it was ready"},
		// The threaded server cannot be seen polling and, with this
		// value, sends no READY=1: only --ready-timeout ends the wait.
		{"never ready", "v2-never", "not ready within --ready-timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// The same --ready-timeout also bounds the good generation
			// after the bad one: it must cover a Python start on a loaded
			// machine (2s did not), and stay well inside the test's patience.
			rr := startRolling(t, pythonServer(t, "threaded"), []string{"NOTIFY=1"}, "--ready-timeout", "20s")
			writeFile(t, rr.path, c.bad)
			rr.eventually("hush to give up on the new generation", func() bool {
				return strings.Contains(rr.stderr.String(), c.log)
			})
			rr.eventually("the failed generation to be gone", func() bool {
				return len(serverProcs(rr.hushRun, "python3")) == 1
			})
			if got := rr.answer(); got != "v1" {
				t.Errorf("after the failed rotation the server answers %q, want v1", got)
			}
			if rr.hasExited() {
				t.Fatalf("hush exited:\n%s", rr.stderr)
			}
			// The next change is acted on.
			writeFile(t, rr.path, "v3")
			rr.waitAnswer("v3")
			rr.eventually("one generation", func() bool { return len(serverProcs(rr.hushRun, "python3")) == 1 })
			rr.signal(syscall.SIGTERM)
			rr.expectExit(0)
		})
	}
}

// TestRollingStopDuringOverlap: SIGTERM while both generations run stops
// both, starts nothing, and hush exits with the newest generation's status.
func TestRollingStopDuringOverlap(t *testing.T) {
	t.Parallel()
	// The new generation takes long to be ready, so the overlap is wide.
	rr := startRolling(t, pythonServer(t, "threaded"), nil, "--ready-delay", "30s")
	writeFile(t, rr.path, "v2")
	// Both serve (and handle SIGTERM) before the stop.
	rr.eventually("two generations serving", func() bool { return strings.Contains(rr.stdout.String(), "serving v2") })
	rr.signal(syscall.SIGTERM)
	rr.expectExit(0)
	if left := serverProcs(rr.hushRun, "python3"); len(left) != 0 {
		t.Errorf("servers left running: %v", left)
	}
	if !strings.Contains(rr.stderr.String(), "no new child will start") {
		t.Errorf("want the stop logged:\n%s", rr.stderr)
	}
}

// TestRollingNoGrowth: many rolling rotations leave hush with the same
// number of descriptors, threads and goroutines, and no zombie.
func TestRollingNoGrowth(t *testing.T) {
	t.Parallel()
	rotations := 200
	if testing.Short() {
		rotations = 30
	}
	// sh is the cheapest server: ready by --ready-delay.
	path := filepath.Join(t.TempDir(), "secret")
	writeFile(t, path, "v0")
	port := freePort(t)
	r := startOpts(t, modes[0], opts{env: []string{"S=ref+file://" + path}},
		"-v", "--debounce", "10ms", "--listen", fmt.Sprintf("tcp://127.0.0.1:%d", port),
		"--on-change", "rolling", "--ready-delay", "10ms", "--stop-timeout", "5s",
		"--", "sh", "-c", `trap 'exit 0' TERM; echo "value=$S"; while :; do sleep 0.05; done`)
	r.waitStdout("value=v0")
	hush := r.hushPid()
	count := func() (fds, threads int) {
		entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", hush))
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", hush))
		return len(entries), len(tasks)
	}
	rotate := func(i int) {
		writeFile(t, path, "v"+strconv.Itoa(i))
		r.waitStdout("value=v" + strconv.Itoa(i))
		r.eventually("one generation", func() bool { return len(serverProcs(r, "sh")) == 1 })
	}
	for i := 1; i <= 10; i++ {
		rotate(i)
	}
	fds0, threads0 := count()
	goroutines0 := endedGoroutines(r)
	for i := 11; i <= rotations; i++ {
		rotate(i)
	}
	fds1, threads1 := count()
	goroutines1 := endedGoroutines(r)
	if fds1 > fds0 {
		t.Errorf("hush's descriptors grew from %d to %d over %d rotations", fds0, fds1, rotations-10)
	}
	// Threads are the runtime's to add while busy; a leak grows with the
	// rotations, far beyond a couple.
	if threads1 > threads0+3 {
		t.Errorf("hush's threads grew from %d to %d", threads0, threads1)
	}
	if goroutines1 > goroutines0 {
		t.Errorf("hush's goroutines grew from %d to %d", goroutines0, goroutines1)
	}
	for _, pid := range children(hush) {
		if state, _, _ := procStat(pid); state == 'Z' {
			t.Errorf("zombie %d left", pid)
		}
	}
	r.signal(syscall.SIGTERM)
	r.expectExit(0)
}

// endedGoroutines reads the goroutine count of hush's last "generation ended" line.
func endedGoroutines(r *hushRun) int {
	logs := r.stderr.String()
	i := strings.LastIndex(logs, "goroutines=")
	if i < 0 {
		r.t.Fatalf("no goroutine count in the log:\n%s", logs)
	}
	var n int
	fmt.Sscanf(logs[i:], "goroutines=%d", &n)
	return n
}

// TestRollingWithoutListen: a worker that serves no port (a queue consumer)
// under --on-change rolling: the new generation starts before the old one
// is asked to stop, so there is always one consuming.
func TestRollingWithoutListen(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "s")
		writeFile(t, path, "v1")
		// A worker that says READY=1 once it has started: the switch can
		// only come after its "start" line.
		worker := `
import os, signal, socket, sys, time
def stop(*_):
    print("stop", os.environ["S"], flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("start", os.environ["S"], flush=True)
addr = os.environ["NOTIFY_SOCKET"]
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.sendto(b"READY=1", "\0" + addr[1:] if addr.startswith("@") else addr)
while True:
    time.sleep(1)
`
		r := startOpts(t, m, opts{env: []string{"S=ref+file://" + path}},
			"--debounce", "50ms", "--on-change", "rolling", "--", "/usr/bin/python3", "-c", worker)
		r.waitStdout("start v1")
		writeFile(t, path, "v2")
		r.waitStdout("stop v1")
		out := r.stdout.String()
		if i, j := strings.Index(out, "start v2"), strings.Index(out, "stop v1"); i < 0 || i > j {
			t.Errorf("the old worker stopped before the new one started:\n%s", out)
		}
		r.signal(syscall.SIGTERM)
		r.expectExit(0)
		if strings.Count(r.stdout.String(), "start ") != 2 {
			t.Errorf("want exactly two starts:\n%s", r.stdout)
		}
	})
}

// TestRollingEndsOldDaemons: a daemon the old generation started and that
// double-forked away (re-parented to hush, in a session of its own) is
// stopped with the old generation, although the new one runs beside it.
func TestRollingEndsOldDaemons(t *testing.T) {
	t.Parallel()
	inModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "s")
		writeFile(t, path, "1")
		script := `setsid sh -c 'sleep 300$S & exit 0'; trap 'exit 0' TERM; echo "start $S"; while :; do sleep 0.05; done`
		r := startOpts(t, m, opts{env: []string{"S=ref+file://" + path}},
			"--debounce", "50ms", "--on-change", "rolling", "--ready-delay", "100ms", "--", "sh", "-c", script)
		r.waitStdout("start 1")
		r.eventually("the daemon of generation 1", func() bool { return len(taggedRunning(r, "sleep 3001")) == 1 })
		writeFile(t, path, "2")
		r.waitStdout("start 2")
		r.eventually("generation 1's daemon to be stopped", func() bool { return len(taggedRunning(r, "sleep 3001")) == 0 })
		if len(taggedRunning(r, "sleep 3002")) != 1 {
			t.Errorf("the new generation's daemon was stopped too")
		}
		r.signal(syscall.SIGTERM)
		r.wait()
	})
}

// TestTrampolineNotExecutable: --no-new-privs (like --listen) starts the
// child through hush's own binary; when the child's user may not execute
// it, the error says so instead of blaming the command.
func TestTrampolineNotExecutable(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(hushBin)
	if err != nil {
		t.Fatal(err)
	}
	private := filepath.Join(t.TempDir(), "hush")
	if err := os.WriteFile(private, b, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(private, "--user", "nobody", "--no-new-privs", "--", "/bin/true")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 126 {
		t.Fatalf("exit: %v, want 126\n%s", err, out)
	}
	if !strings.Contains(string(out), "chmod 755") {
		t.Errorf("the error does not say how to fix it:\n%s", out)
	}
}
