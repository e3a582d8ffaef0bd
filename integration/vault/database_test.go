package vault

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// databaseMount enables a database secrets engine on the shared server,
// backed by the test PostgreSQL, with a role "app" whose leases last ttl
// and at most maxTTL. It returns the mount's path.
func databaseMount(t *testing.T, ttl, maxTTL string) string {
	t.Helper()
	p := startedPostgres(t)
	mount := "db-" + randomHex(4)
	shared.must(t, "POST", "sys/mounts/"+mount, map[string]any{"type": "database"})
	shared.must(t, "POST", mount+"/config/pg", map[string]any{
		"plugin_name":    "postgresql-database-plugin",
		"connection_url": fmt.Sprintf("postgresql://{{username}}:{{password}}@127.0.0.1:%d/postgres?sslmode=disable", p.port),
		"username":       "postgres",
		"password":       p.password,
		"allowed_roles":  "*",
	})
	shared.must(t, "POST", mount+"/roles/app", map[string]any{
		"db_name":             "pg",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`},
		"default_ttl":         ttl,
		"max_ttl":             maxTTL,
	})
	return mount
}

// dbChild logs in to PostgreSQL with the injected credentials and records
// "ok USER CURRENT_USER PASSWORD" (or "fail USER") in out. A login that
// works proves that the username and the password came from the same
// lease.
func dbChild(out string, long bool) []string {
	p := pg
	script := fmt.Sprintf(`if u=$(PGPASSWORD="$DB_PASS" PGCONNECT_TIMEOUT=10 %s -w -h 127.0.0.1 -p %d -U "$DB_USER" -d postgres -tAc 'select current_user' 2>&1); `+
		`then echo "ok $DB_USER $u $DB_PASS" >> %q; else echo "fail $DB_USER $u" >> %q; fi`,
		p.psql(), p.port, out, out)
	if long {
		script += "; exec sleep 100000"
	}
	return []string{"sh", "-c", script}
}

type dbLogin struct{ user, current, password string }

func parseDBLine(t *testing.T, line string) dbLogin {
	t.Helper()
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "ok" {
		t.Fatalf("the child could not log in to PostgreSQL: %q", line)
	}
	l := dbLogin{user: f[1], current: f[2], password: f[3]}
	if l.user != l.current || !strings.HasPrefix(l.user, "v-") {
		t.Fatalf("logged in as %q with user %q", l.current, l.user)
	}
	return l
}

func dbEnv(mount string) []string {
	return append(shared.env(),
		"DB_USER=ref+vault://"+mount+"/creds/app#/username",
		"DB_PASS=ref+vault://"+mount+"/creds/app#/password",
	)
}

// Dynamic credentials: DB_USER and DB_PASS come from one lease (the child
// logs in with them), the lease is renewed, and when it reaches its max TTL
// hush takes a new one and restarts the child, whose new credentials work
// too.
func TestDatabaseCredentials(t *testing.T) {
	t.Parallel()
	mount := databaseMount(t, "4s", "8s")
	out := childFile(t)
	r := startHush(t, dbEnv(mount), []string{shared.token, pg.password}, args(fastWatch, dbChild(out, true))...)
	got := r.waitLines(out, 2)
	first, second := parseDBLine(t, got[0]), parseDBLine(t, got[1])
	if first.user == second.user {
		t.Errorf("the restarted child got the same user %q", first.user)
	}
	if r.countLog("renewed the lease of "+mount+"/creds/app") == 0 {
		t.Errorf("the lease was never renewed:\n%s", r.stderr)
	}
	if r.countLog("a Vault lease ends; reading the secret again") == 0 {
		t.Errorf("the end of the lease was not logged:\n%s", r.stderr)
	}
	r.checkNoLeak([]string{first.password, second.password})
}

// A revoked lease (an operator's `vault lease revoke`) is seen at the next
// renewal: hush takes a new lease and restarts the child.
func TestDatabaseLeaseRevoked(t *testing.T) {
	t.Parallel()
	mount := databaseMount(t, "4s", "1h")
	out := childFile(t)
	r := startHush(t, dbEnv(mount), []string{shared.token, pg.password}, args(fastWatch, dbChild(out, true))...)
	first := parseDBLine(t, r.waitLines(out, 1)[0])
	shared.cli(t, "lease", "revoke", "-prefix", mount+"/creds/app")
	second := parseDBLine(t, r.waitLines(out, 2)[1])
	if first.user == second.user {
		t.Errorf("the restarted child got the same user %q", first.user)
	}
	r.checkNoLeak([]string{first.password, second.password})
}

// --revoke-on-exit gives the lease back when hush exits (Vault then drops
// the database role); without it the lease lives on until it expires.
func TestRevokeOnExit(t *testing.T) {
	t.Parallel()
	mount := databaseMount(t, "1h", "2h")
	for _, revoke := range []bool{true, false} {
		t.Run("revoke="+strconv.FormatBool(revoke), func(t *testing.T) {
			out := childFile(t)
			var opts []string
			if revoke {
				opts = []string{"--revoke-on-exit"}
			}
			r := startHush(t, dbEnv(mount), []string{shared.token, pg.password}, args(opts, dbChild(out, false))...)
			r.expectExit(0)
			l := parseDBLine(t, r.waitLines(out, 1)[0])
			roles := pg.query(t, fmt.Sprintf("select count(*) from pg_roles where rolname = '%s'", l.user))
			want := "1"
			if revoke {
				want = "0"
			}
			if roles != want {
				t.Errorf("revoke=%v: %s database roles named %s after hush exited, want %s", revoke, roles, l.user, want)
			}
			r.checkNoLeak([]string{l.password})
		})
	}
	// With AppRole, hush revokes the token it logged in with, and Vault
	// revokes the token's leases with it (the default policy suffices).
	t.Run("approle", func(t *testing.T) {
		f := authFixture{policy: "dbread-" + randomHex(4)}
		shared.policy(t, f.policy, `path "`+mount+`/creds/app" { capabilities = ["read"] }`)
		a := newAppRole(t, f, "1h", "2h", false)
		env := append(baseEnv(), "VAULT_ADDR="+shared.addr,
			"DB_USER=ref+vault://"+mount+"/creds/app#/username", "DB_PASS=ref+vault://"+mount+"/creds/app#/password",
			"HUSH_VAULT_ROLE_ID="+a.roleID, "HUSH_VAULT_SECRET_ID_FILE="+writeFile(t, "sid", a.secretID))
		out := childFile(t)
		r := startHush(t, env, []string{a.secretID, pg.password}, args([]string{"--revoke-on-exit"}, dbChild(out, false))...)
		r.expectExit(0)
		l := parseDBLine(t, r.waitLines(out, 1)[0])
		// Revoking a token revokes its leases in the background.
		eventually(t, "the database role to be dropped", func() bool {
			return pg.query(t, fmt.Sprintf("select count(*) from pg_roles where rolname = '%s'", l.user)) == "0"
		})
		if r.countLog("backend cleanup failed") != 0 {
			t.Errorf("revocation failed:\n%s", r.stderr)
		}
		r.checkNoLeak([]string{l.password})
	})
}
