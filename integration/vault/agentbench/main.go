// Command agentbench compares hush with Vault Agent in process-supervisor
// mode (`vault agent` with an exec stanza and an env_template), both doing
// the same job against the same real Vault dev server: read one KV v2
// secret into one environment variable of a child, then watch it.
//
//	go run ./integration/vault/agentbench -hush bin/hush [-runs 10] [-window 20s]
//
// The Vault binary comes from $HUSH_VAULT_BIN or scripts/build-vault.sh. It
// prints a Markdown section on stdout: binary sizes, time from exec to the
// child's first instruction, the supervisor's RSS once it watches, and the
// requests it sends per poll, counted in Vault's file audit log. The figures
// are medians over -runs runs, hush and Vault Agent alternating.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hushinit/hush/integration/vault/internal/audit"
	"github.com/hushinit/hush/integration/vault/internal/devvault"
)

func main() {
	hush := flag.String("hush", "bin/hush", "the hush binary")
	runs := flag.Int("runs", 10, "runs of each supervisor")
	window := flag.Duration("window", 20*time.Second, "how long each watches for the request count")
	interval := flag.Duration("interval", time.Second, "poll interval of both (hush --poll-interval, agent static_secret_render_interval)")
	flag.Parse()
	if err := run(*hush, *runs, *window, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "agentbench:", err)
		os.Exit(1)
	}
}

type subject struct {
	name  string
	bin   string
	start func(dir, out string, interval time.Duration) *exec.Cmd
}

func run(hushBin string, runs int, window, interval time.Duration) error {
	v, err := devvault.StartBench("agentbench", hushBin)
	if err != nil {
		return err
	}
	defer v.Close()
	hushBin, vaultBin, dir := v.HushBin, v.VaultBin, v.Dir
	audit := filepath.Join(dir, "audit.log")
	if err := v.API("PUT", "sys/audit/file", map[string]any{"type": "file", "options": map[string]any{"file_path": audit}}); err != nil {
		return err
	}
	if err := v.API("POST", "secret/data/bench", map[string]any{"data": map[string]any{"password": "bench-" + devvault.RandomHex(8)}}); err != nil {
		return err
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(v.Token), 0o600); err != nil {
		return err
	}
	child := func(out string) []string {
		return []string{"/bin/sh", "-c", `date +%s%N > ` + out + `; exec sleep 100000`}
	}
	subjects := []subject{
		{name: "hush", bin: hushBin, start: func(d, out string, iv time.Duration) *exec.Cmd {
			cmd := exec.Command(hushBin, append([]string{"--poll-interval", iv.String(), "--"}, child(out)...)...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "VAULT_ADDR=" + v.Addr, "HUSH_VAULT_TOKEN_FILE=" + tokenFile,
				"DB_PASSWORD=ref+vault://secret/bench#/password"}
			return cmd
		}},
		{name: "vault agent (exec)", bin: vaultBin, start: func(d, out string, iv time.Duration) *exec.Cmd {
			cfg := filepath.Join(d, "agent.hcl")
			argv, _ := json.Marshal(child(out))
			os.WriteFile(cfg, []byte(fmt.Sprintf(`vault { address = %q }
auto_auth {
  method "token_file" {
    config = { token_file_path = %q }
  }
}
template_config { static_secret_render_interval = %q }
env_template "DB_PASSWORD" {
  contents = "{{ with secret \"secret/data/bench\" }}{{ .Data.data.password }}{{ end }}"
  error_on_missing_key = true
}
exec {
  command = %s
  restart_on_secret_changes = "always"
  restart_stop_signal = "SIGTERM"
}
`, v.Addr, tokenFile, iv.String(), argv)), 0o600)
			cmd := exec.Command(vaultBin, "agent", "-config="+cfg)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + d}
			return cmd
		}},
	}
	type result struct {
		firstChild []time.Duration
		rss        []int64
		perPoll    float64
		pollDetail string
	}
	results := make([]result, len(subjects))
	for r := range runs {
		for i := range subjects {
			s := subjects[(r+i)%len(subjects)]
			idx := slices.IndexFunc(subjects, func(x subject) bool { return x.name == s.name })
			d, rss, err := once(s, dir, interval)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			results[idx].firstChild = append(results[idx].firstChild, d)
			results[idx].rss = append(results[idx].rss, rss)
		}
	}
	for i, s := range subjects {
		n, polls, detail, err := requestsPerPoll(s, dir, audit, window, interval)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		results[i].perPoll = float64(n) / float64(polls)
		results[i].pollDetail = detail
	}
	fmt.Printf("## hush vs Vault Agent (process supervisor)\n\n")
	fmt.Printf("Both read one KV v2 secret from the same Vault %s dev server into `DB_PASSWORD` of a child "+
		"(`sh -c 'date +%%s%%N > out; exec sleep'`), then watch it every %v (hush `--poll-interval`, "+
		"agent `static_secret_render_interval`); the agent uses `auto_auth` `token_file`, hush `HUSH_VAULT_TOKEN_FILE`. "+
		"Medians of %d runs each, alternating. Time to first child: from exec of the supervisor to the child's `date`. "+
		"RSS: VmRSS of the supervisor 2s after the child started. Requests per poll: every request in Vault's audit log "+
		"during a %v watch, over the number of polls.\n\n", devvault.Version(vaultBin), interval, runs, window)
	fmt.Printf("| supervisor | binary | size (MB) | time to first child (ms) | RSS watching (MiB) | requests per poll |\n|---|---|---|---|---|---|\n")
	for i, s := range subjects {
		st, _ := os.Stat(s.bin)
		fmt.Printf("| %s | %s | %.2f | %.1f | %.2f | %.2f (%s) |\n", s.name, filepath.Base(s.bin), float64(st.Size())/1e6,
			float64(median(results[i].firstChild).Microseconds())/1000, float64(medianInt(results[i].rss))/1024,
			results[i].perPoll, results[i].pollDetail)
	}
	return nil
}

// once starts s, waits for its child's first instruction, measures its RSS
// two seconds later, and stops it.
func once(s subject, dir string, interval time.Duration) (time.Duration, int64, error) {
	d, err := os.MkdirTemp(dir, "run-")
	if err != nil {
		return 0, 0, err
	}
	out := filepath.Join(d, "started")
	cmd := s.start(d, out, interval)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(cmd.Env, "AGENTBENCH_TAG="+tag)
	cmd.WaitDelay = time.Second
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer devvault.Kill(cmd, "AGENTBENCH_TAG", tag)
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			first := time.Unix(0, ns).Sub(t0)
			time.Sleep(2 * time.Second)
			return first, rssKiB(cmd.Process.Pid), nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("no child after 60s:\n%s", logs.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// requestsPerPoll runs s for window and counts the requests Vault logged.
func requestsPerPoll(s subject, dir, audit string, window, interval time.Duration) (int, int, string, error) {
	d, err := os.MkdirTemp(dir, "poll-")
	if err != nil {
		return 0, 0, "", err
	}
	out := filepath.Join(d, "started")
	cmd := s.start(d, out, interval)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(cmd.Env, "AGENTBENCH_TAG="+tag)
	if err := cmd.Start(); err != nil {
		return 0, 0, "", err
	}
	defer devvault.Kill(cmd, "AGENTBENCH_TAG", tag)
	for i := 0; i < 60000; i++ {
		if _, err := os.Stat(out); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(interval / 2) // start-up requests are done
	before := auditPaths(audit)
	time.Sleep(window)
	after := auditPaths(audit)
	counts := map[string]int{}
	for _, p := range after[len(before):] {
		counts[p]++
	}
	var parts []string
	total := 0
	for p, n := range counts {
		parts = append(parts, fmt.Sprintf("%s ×%d", p, n))
		total += n
	}
	slices.Sort(parts)
	return total, int(window / interval), strings.Join(parts, ", "), nil
}

func auditPaths(file string) []string {
	reqs, _ := audit.Read(file) // no log yet: no requests
	out := make([]string, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, r.Operation+" "+r.Path)
	}
	return out
}

// tag marks every process a supervisor starts (the variable is inherited),
// so that stop finds the children wherever they were re-parented.
var tag = devvault.RandomHex(8)

func rssKiB(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func median(xs []time.Duration) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianInt(xs []int64) int64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
