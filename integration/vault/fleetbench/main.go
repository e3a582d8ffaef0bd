// Command fleetbench runs a fleet of hush-vault instances against one real
// Vault dev server, as a deployment of many replicas would, and reports the
// load the fleet puts on Vault:
//
//	go run ./integration/vault/fleetbench -hush bin/hush-vault [-n 100] [-interval 5s]
//
// Every instance reads one KV v2 secret and watches it. They are started
// within about a second (a rollout), through an HTTP proxy in this program
// that timestamps every request and can cut Vault off (answering 503, as a
// sealed or overloaded Vault does). It measures start-up requests per
// instance, steady requests per second with the busiest second and the
// busiest 100 ms against the mean (DESIGN.md: busiest second at most 1.5x
// the mean), attempts per second during a cut-off against the steady rate,
// and the spread of child restarts after a rotation. The Vault binary comes
// from $HUSH_VAULT_BIN or scripts/build-vault.sh. It prints a Markdown
// section on stdout.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hushinit/hush/integration/vault/internal/devvault"
)

func main() {
	hush := flag.String("hush", "bin/hush-vault", "the hush binary")
	n := flag.Int("n", 100, "instances")
	interval := flag.Duration("interval", 5*time.Second, "hush --poll-interval")
	steady := flag.Duration("steady", 40*time.Second, "steady-state window")
	outage := flag.Duration("outage", 20*time.Second, "cut-off window")
	flag.Parse()
	if err := run(*hush, *n, *interval, *steady, *outage); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		os.Exit(1)
	}
}

// proxy stands between the fleet and Vault: it records when each request
// arrived and can answer 503 instead of passing it on.
type proxy struct {
	rp   *httputil.ReverseProxy
	mu   sync.Mutex
	at   []time.Time
	down bool
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.at = append(p.at, time.Now())
	down := p.down
	p.mu.Unlock()
	if down {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"errors":["Vault is sealed"]}`)
		return
	}
	p.rp.ServeHTTP(w, r)
}

func (p *proxy) between(from, to time.Time) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Time
	for _, t := range p.at {
		if !t.Before(from) && t.Before(to) {
			out = append(out, t)
		}
	}
	return out
}

func (p *proxy) setDown(d bool) {
	p.mu.Lock()
	p.down = d
	p.mu.Unlock()
}

// peak is the largest number of requests in any bucket of width w over
// [from, to), and the mean per bucket.
func peak(ts []time.Time, from, to time.Time, w time.Duration) (int, float64) {
	buckets := int(to.Sub(from) / w)
	if buckets == 0 {
		return 0, 0
	}
	counts := make([]int, buckets)
	for _, t := range ts {
		if i := int(t.Sub(from) / w); i >= 0 && i < buckets {
			counts[i]++
		}
	}
	return slices.Max(counts), float64(len(ts)) / float64(buckets)
}

func run(hushBin string, n int, interval, steady, outage time.Duration) error {
	v, err := devvault.StartBench("fleetbench", hushBin)
	if err != nil {
		return err
	}
	defer v.Close()
	hushBin, vaultBin, dir := v.HushBin, v.VaultBin, v.Dir
	if err := v.API("POST", "secret/data/fleet", map[string]any{"data": map[string]any{"password": "one-" + devvault.RandomHex(8)}}); err != nil {
		return err
	}
	target, _ := url.Parse(v.Addr)
	p := &proxy{rp: httputil.NewSingleHostReverseProxy(target)}
	front := httptest.NewServer(p)
	defer front.Close()

	// A rollout: n instances started within about a second.
	var cmds []*exec.Cmd
	defer func() {
		for _, c := range cmds {
			devvault.Kill(c, "FLEETBENCH_TAG", tag)
		}
	}()
	startedAt := time.Now()
	for i := range n {
		out := filepath.Join(dir, fmt.Sprintf("child-%d", i))
		cmd := exec.Command(hushBin, "--poll-interval", interval.String(), "--debounce", "1s", "--",
			"sh", "-c", `date +%s%N >> "$OUT"; exec sleep 100000`)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "VAULT_ADDR=" + front.URL, "VAULT_TOKEN=" + v.Token,
			"DB_PASSWORD=ref+vault://secret/fleet#/password", "OUT=" + out, "FLEETBENCH_TAG=" + tag}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds = append(cmds, cmd)
		time.Sleep(time.Second / time.Duration(n))
	}
	spread := time.Since(startedAt)
	for i := range n {
		if !waitLines(filepath.Join(dir, fmt.Sprintf("child-%d", i)), 1, 60*time.Second) {
			return fmt.Errorf("instance %d did not start its child", i)
		}
	}
	startupReqs := len(p.between(startedAt, time.Now()))

	// Steady state, after the first poll of every instance.
	time.Sleep(interval + interval/5)
	from := time.Now()
	time.Sleep(steady)
	to := time.Now()
	ts := p.between(from, to)
	sec, mean := peak(ts, from, to, time.Second)
	ms100, mean100 := peak(ts, from, to, 100*time.Millisecond)

	// A cut-off: Vault answers 503 to everything.
	p.setDown(true)
	cutFrom := time.Now()
	time.Sleep(outage)
	cutTo := time.Now()
	p.setDown(false)
	cut := p.between(cutFrom, cutTo)
	time.Sleep(10 * interval)
	after := p.between(cutTo, cutTo.Add(5*time.Second))

	// A rotation: the spread of the new children's start.
	if err := v.API("POST", "secret/data/fleet", map[string]any{"data": map[string]any{"password": "two-" + devvault.RandomHex(8)}}); err != nil {
		return err
	}
	var restarts []int64
	for i := range n {
		f := filepath.Join(dir, fmt.Sprintf("child-%d", i))
		if !waitLines(f, 2, 60*time.Second) {
			return fmt.Errorf("instance %d did not restart its child", i)
		}
		l := readLines(f)
		t, _ := strconv.ParseInt(l[1], 10, 64)
		restarts = append(restarts, t)
	}
	slices.Sort(restarts)
	restartSpread := time.Duration(restarts[len(restarts)-1] - restarts[0])

	steadyRate := float64(len(ts)) / to.Sub(from).Seconds()
	cutRate := float64(len(cut)) / cutTo.Sub(cutFrom).Seconds()
	fmt.Printf(`## A fleet against one Vault

%d hush-vault instances (%s), started within %.1fs through a proxy that
timestamps every request, each reading one KV v2 secret and watching it
with --poll-interval %s, against a Vault %s dev server on this machine.

| measure | value |
|---|---|
| start-up requests per instance | %.1f |
| steady requests per second (%s window) | %.1f (instances / interval = %.1f) |
| busiest second vs the mean (budget 1.5x) | %d vs %.1f: %.2fx |
| busiest 100 ms vs the mean | %d vs %.2f: %.2fx |
| attempts per second during a %s cut-off (503) | %.2f (%.0f%% of the steady rate) |
| requests in the first 5 s after the cut-off | %d |
| spread of the child restarts after a rotation | %s |

`, n, filepath.Base(hushBin), spread.Seconds(), interval, devvault.Version(vaultBin),
		float64(startupReqs)/float64(n), steady, steadyRate, float64(n)/interval.Seconds(),
		sec, mean, float64(sec)/mean, ms100, mean100, float64(ms100)/mean100,
		outage, cutRate, 100*cutRate/steadyRate, len(after), restartSpread.Round(time.Millisecond))
	return nil
}

func waitLines(f string, n int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if len(readLines(f)) >= n {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func readLines(f string) []string {
	b, _ := os.ReadFile(f)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// tag marks every process an instance starts, so that stop finds them.
var tag = devvault.RandomHex(8)
