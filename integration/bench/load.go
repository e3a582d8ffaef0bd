package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Rotation under load: an HTTP server behind hush answers a client that
// sends requests back to back while the secret rotates, once per way hush
// can restart it. The server (this benchmark in another role) warms up for a
// few seconds before it accepts, as a real app loading its code does, which
// is what makes a stop-then-start visible to clients.

// loadserverArg is argv[1] that turns this program into the load server.
const loadserverArg = "loadserver"

// loadWarmup is the server's warm-up before it accepts.
const loadWarmup = 2 * time.Second

// loadBudget is what rolling may add to the worst wait over a run without
// rotations (DESIGN.md).
const loadBudget = 50 * time.Millisecond

// loadserver serves $S on the socket hush passed (LISTEN_FDS, fd 3) or on
// $PORT, and on SIGTERM stops accepting and finishes what is in flight.
func loadserver() int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	time.Sleep(loadWarmup)
	var (
		ln  net.Listener
		err error
	)
	if os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) && os.Getenv("LISTEN_FDS") == "1" {
		f := os.NewFile(3, "listener")
		ln, err = net.FileListener(f)
		f.Close()
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadserver:", err)
		return 1
	}
	value := os.Getenv(rotEnvVar)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, value)
	})}
	go srv.Serve(ln)
	<-sigs
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	return 0
}

// loadScenario is one way of running the server behind hush.
type loadScenario struct {
	name   string
	args   []string // hush options; PORT is replaced by the port
	rotate bool
}

var loadScenarios = []loadScenario{
	{"no rotation (baseline)", []string{"--listen", "tcp://127.0.0.1:PORT", "--on-change", "rolling"}, false},
	{"restart, no --listen", []string{"--on-change", "restart"}, true},
	{"restart, --listen", []string{"--listen", "tcp://127.0.0.1:PORT", "--on-change", "restart"}, true},
	{"rolling, --listen", []string{"--listen", "tcp://127.0.0.1:PORT", "--on-change", "rolling"}, true},
}

// loadRow is one scenario's result.
type loadRow struct {
	sc        loadScenario
	rotations int
	requests  int
	failed    int
	worst     time.Duration
	p99       time.Duration
	note      string
}

// measureLoad runs every scenario with the full hush build.
func measureLoad(ctx context.Context, s subject, self string, rotations int, progress func(string)) []loadRow {
	var rows []loadRow
	for _, sc := range loadScenarios {
		progress(sc.name)
		row, err := runLoad(ctx, s, self, sc, rotations)
		if err != nil {
			row = loadRow{sc: sc, note: err.Error()}
		}
		rows = append(rows, row)
	}
	return rows
}

func runLoad(ctx context.Context, s subject, self string, sc loadScenario, rotations int) (loadRow, error) {
	row := loadRow{sc: sc}
	dir, err := os.MkdirTemp("", "hush-load-")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	secret := filepath.Join(dir, "s")
	if err := os.WriteFile(secret, []byte("v0"), 0o600); err != nil {
		return row, err
	}
	port, err := freeTCPPort()
	if err != nil {
		return row, err
	}
	args := []string{"--debounce", "50ms"}
	for _, a := range sc.args {
		args = append(args, strings.ReplaceAll(a, "PORT", strconv.Itoa(port)))
	}
	args = append(args, "--", self, loadserverArg)
	cmd := exec.Command(s.path, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), rotEnvVar + "=ref+file://" + secret, "PORT=" + strconv.Itoa(port)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return row, err
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := waitFor(ctx, 60*time.Second, func() bool { return fetch(client, url) == "v0" }); err != nil {
		return row, fmt.Errorf("server never answered: %w", err)
	}
	l := &loadClient{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.run(client, url, stop)
	}()
	time.Sleep(time.Second)
	if sc.rotate {
		for i := 1; i <= rotations; i++ {
			v := "v" + strconv.Itoa(i)
			if err := os.WriteFile(secret, []byte(v), 0o600); err != nil {
				close(stop)
				wg.Wait()
				return row, err
			}
			if err := waitFor(ctx, 60*time.Second, func() bool { return l.seen(v) }); err != nil {
				close(stop)
				wg.Wait()
				return row, fmt.Errorf("rotation %d never reached clients: %w", i, err)
			}
			// Let the replaced generation finish before the next change.
			time.Sleep(500 * time.Millisecond)
		}
		row.rotations = rotations
	} else {
		time.Sleep(time.Duration(rotations) * (loadWarmup/4 + 500*time.Millisecond))
	}
	close(stop)
	wg.Wait()
	syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	row.requests, row.failed = len(l.waits)+l.failed, l.failed
	row.worst, _ = percentile(l.waits, 100)
	row.p99, _ = percentile(l.waits, 99)
	if l.failedWorst > row.worst {
		row.worst = l.failedWorst
	}
	return row, nil
}

// loadClient sends one request at a time, each on a new connection.
type loadClient struct {
	mu          sync.Mutex
	waits       []time.Duration
	failed      int
	failedWorst time.Duration
	last        string
	values      map[string]bool
}

func (l *loadClient) run(client *http.Client, url string, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		began := time.Now()
		v := fetch(client, url)
		took := time.Since(began)
		l.mu.Lock()
		if v == "" {
			l.failed++
			l.failedWorst = max(l.failedWorst, took)
		} else {
			l.waits = append(l.waits, took)
			if l.values == nil {
				l.values = map[string]bool{}
			}
			l.values[v] = true
		}
		l.mu.Unlock()
	}
}

func (l *loadClient) seen(v string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.values[v]
}

// fetch returns the body, or "" when the request failed.
func fetch(client *http.Client, url string) string {
	resp, err := client.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// loadSection renders the rows and checks the rolling budget against the
// baseline's worst wait.
func (r *report) loadSection() string {
	if len(r.load) == 0 {
		return ""
	}
	t := table{header: []string{"scenario", "rotations", "requests", "failed", "p99 wait (ms)", "worst wait (ms)", "budget", "result"}}
	var base time.Duration
	for _, row := range r.load {
		if !row.sc.rotate && row.note == "" {
			base = row.worst
		}
	}
	for _, row := range r.load {
		if row.note != "" {
			t.add(row.sc.name, row.note)
			continue
		}
		budget, result := "—", "—"
		if strings.HasPrefix(row.sc.name, "rolling") {
			ok := row.failed == 0 && row.worst <= base+loadBudget
			budget, result = r.verdict(r.subjects[0], true,
				fmt.Sprintf("rolling: 0 failed, worst ≤ baseline + %d ms", loadBudget.Milliseconds()),
				fmt.Sprintf("%d failed, worst %s ms (baseline %s ms)", row.failed, fmtMillis(row.worst, 1), fmtMillis(base, 1)), ok)
		}
		t.add(row.sc.name, strconv.Itoa(row.rotations), strconv.Itoa(row.requests), strconv.Itoa(row.failed),
			fmtMillis(row.p99, 1), fmtMillis(row.worst, 1), budget, result)
	}
	return "## Rotation under load\n\n" + t.String() + "\n" + fmt.Sprintf(
		`A Go HTTP server (this benchmark in another role) runs behind `+"`hush --debounce 50ms`"+`
and answers every request with its secret; it warms up for %s before it
accepts, as an app loading its code does, and on SIGTERM stops accepting and
finishes the requests in flight. One client sends requests back to back,
each on a new connection, with a 30 s timeout, while the secret file is
rewritten %d times (each change waits until the client has seen the previous
one, then 0.5 s). A failed request is a refused or reset connection or a
timeout. The baseline runs the same server with no rotation for a similar
time. Without --listen, a restart leaves no socket while the new process
warms up, so requests fail; with --listen they queue in the socket hush
holds and wait out the warm-up instead; with rolling the old generation
serves until the new one is ready.

`, loadWarmup, r.cfg.loadRotations)
}
