package vault

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// postgres is a PostgreSQL cluster from Debian's postgresql package,
// created for this test run in a temporary directory and listening on a
// loopback port.
type postgres struct {
	bin      string // /usr/lib/postgresql/N/bin
	data     string
	port     int
	password string // the superuser's, for Vault's database engine
	asUser   []string
}

var (
	pgOnce sync.Once
	pg     *postgres
	pgErr  error
)

// startedPostgres starts the cluster on first use (most tests do not need
// it) and fails the test if that is not possible: Debian's postgresql
// package is a declared test dependency (make deps installs it).
func startedPostgres(t *testing.T) *postgres {
	t.Helper()
	pgOnce.Do(func() { pg, pgErr = startPostgres() })
	if pgErr != nil {
		t.Fatalf("PostgreSQL (Debian package postgresql, installed by make deps): %v", pgErr)
	}
	return pg
}

func stopPostgres() {
	if pg != nil {
		pg.run("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop")
	}
}

func startPostgres() (*postgres, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return nil, fmt.Errorf("no /usr/lib/postgresql/*/bin/initdb")
	}
	sort.Slice(bins, func(i, j int) bool { return pgVersion(bins[i]) < pgVersion(bins[j]) })
	p := &postgres{bin: filepath.Dir(bins[len(bins)-1]), password: "pg-" + randomHex(12)}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p.port = port
	dir, err := os.MkdirTemp(tmpRoot, "pg-")
	if err != nil {
		return nil, err
	}
	p.data = filepath.Join(dir, "data")
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(p.password+"\n"), 0o600); err != nil {
		return nil, err
	}
	// PostgreSQL refuses to run as root: use the package's postgres user.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("user postgres (from the postgresql package): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, f := range []string{dir, pwfile} {
			if err := os.Chown(f, uid, gid); err != nil {
				return nil, err
			}
		}
		p.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := p.run("initdb", "-D", p.data, "-U", "postgres", "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	opts := fmt.Sprintf("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off", p.port, dir)
	if out, err := p.run("pg_ctl", "-D", p.data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return nil, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return p, nil
}

func pgVersion(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func (p *postgres) run(prog string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, p.asUser...), filepath.Join(p.bin, prog)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

func (p *postgres) psql() string { return filepath.Join(p.bin, "psql") }

// query runs SQL as the superuser over TCP and returns the output.
func (p *postgres) query(t testing.TB, sql string) string {
	t.Helper()
	cmd := exec.Command(p.psql(), "-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "postgres", "-d", "postgres", "-tAc", sql)
	cmd.Env = append(baseEnv(), "PGPASSWORD="+p.password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}
