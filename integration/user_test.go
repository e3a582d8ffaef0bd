package integration

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// passwdEntry is a user as /etc/passwd and /etc/group describe it; the
// expected ids come from the same files hush reads.
type passwdEntry struct {
	name      string
	uid, gid  int
	home      string
	groups    []int // the primary group and every group listing the user
	groupName string
}

func lookupUser(t *testing.T, name string) (passwdEntry, bool) {
	t.Helper()
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	var u passwdEntry
	found := false
	for _, line := range strings.Split(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 7 && f[0] == name {
			u.name, u.home = f[0], f[5]
			u.uid, _ = strconv.Atoi(f[2])
			u.gid, _ = strconv.Atoi(f[3])
			found = true
			break
		}
	}
	if !found {
		return u, false
	}
	group, err := os.ReadFile("/etc/group")
	if err != nil {
		t.Fatal(err)
	}
	u.groups = []int{u.gid}
	for _, line := range strings.Split(string(group), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 {
			continue
		}
		gid, _ := strconv.Atoi(f[2])
		if gid == u.gid {
			u.groupName = f[0]
		}
		if slices.Contains(strings.Split(f[3], ","), name) && !slices.Contains(u.groups, gid) {
			u.groups = append(u.groups, gid)
		}
	}
	slices.Sort(u.groups)
	return u, true
}

// userWithSupplementaryGroup finds a user listed as a member of some group
// in /etc/group, other than root.
func userWithSupplementaryGroup(t *testing.T) (passwdEntry, bool) {
	group, _ := os.ReadFile("/etc/group")
	for _, line := range strings.Split(string(group), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 || f[3] == "" {
			continue
		}
		for _, member := range strings.Split(f[3], ",") {
			if u, ok := lookupUser(t, member); ok && u.uid != 0 && len(u.groups) > 1 {
				return u, true
			}
		}
	}
	return passwdEntry{}, false
}

func (u passwdEntry) ids(gid int, groups []int) string {
	gs := make([]string, len(groups))
	for i, g := range groups {
		gs[i] = strconv.Itoa(g)
	}
	return fmt.Sprintf("uid=%d gid=%d groups=%s home=%s", u.uid, gid, strings.Join(gs, ","), u.home)
}

// --user runs the child with the user's uid, gid, supplementary groups
// and HOME from /etc/passwd, by name or number (gosu, su-exec).
func TestUser(t *testing.T) {
	t.Parallel()
	nobody, ok := lookupUser(t, "nobody")
	if !ok {
		t.Skip("no user nobody in /etc/passwd")
	}
	type tc struct {
		name, spec string
		want       string
	}
	cases := []tc{
		{"name", "nobody", nobody.ids(nobody.gid, nobody.groups)},
		{"uid", strconv.Itoa(nobody.uid), nobody.ids(nobody.gid, nobody.groups)},
		{"uid:gid", fmt.Sprintf("%d:%d", nobody.uid, nobody.gid), nobody.ids(nobody.gid, nobody.groups)},
	}
	if nobody.groupName != "" {
		cases = append(cases, tc{"name:group", "nobody:" + nobody.groupName, nobody.ids(nobody.gid, nobody.groups)})
	}
	if u, ok := userWithSupplementaryGroup(t); ok {
		cases = append(cases, tc{"supplementary-groups", u.name, u.ids(u.gid, u.groups)})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inModes(t, func(t *testing.T, m mode) {
				// HOME=/root in the caller must not leak through.
				r := startOpts(t, m, opts{env: []string{"HOME=/root"}}, "--user", c.spec, "--", probeBin, "ids")
				r.expectExit(0)
				if got := strings.TrimSpace(r.stdout.all(t)); got != c.want {
					t.Errorf("--user %s: child has %q, want %q", c.spec, got, c.want)
				}
			})
		})
	}
}
