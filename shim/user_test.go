package shim

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const testPasswd = `# a comment
root:x:0:0:root:/root:/bin/sh

  app:x:1000:1000:App User:/home/app:/bin/sh
web:x:1001:1001::/srv/web:/sbin/nologin
short:x:1002
bad:x:abc:1000::/home/bad:/bin/sh
badgid:x:1003:xyz::/home/badgid:/bin/sh
`

const testGroup = `# groups
root:x:0:
app:x:1000:
staff:x:50:app,web
audio:x:29:app
video:x:44:web
docker:x:999
broken:x:notanumber:app
`

// writeFixture writes passwd and group files; an empty content means the
// file does not exist.
func writeFixture(t *testing.T, passwd, group string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	p, g := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	if passwd != "" {
		if err := os.WriteFile(p, []byte(passwd), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if group != "" {
		if err := os.WriteFile(g, []byte(group), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p, g
}

func TestLookupUser(t *testing.T) {
	t.Parallel()
	passwd, group := writeFixture(t, testPasswd, testGroup)
	tests := []struct {
		spec string
		want User
	}{
		{"app", User{UID: 1000, GID: 1000, Groups: []uint32{1000, 50, 29}, Home: "/home/app", Name: "app"}},
		{"1000", User{UID: 1000, GID: 1000, Groups: []uint32{1000, 50, 29}, Home: "/home/app", Name: "app"}},
		{"web", User{UID: 1001, GID: 1001, Groups: []uint32{1001, 50, 44}, Home: "/srv/web", Name: "web"}},
		{"root", User{UID: 0, GID: 0, Groups: []uint32{0}, Home: "/root", Name: "root"}},
		// A numeric user without a passwd entry: group 0 and HOME=/, as Docker.
		{"4242", User{UID: 4242, GID: 0, Groups: []uint32{0}, Home: "/"}},
		{"4242:50", User{UID: 4242, GID: 50, Groups: []uint32{50}, Home: "/"}},
		{"4242:staff", User{UID: 4242, GID: 50, Groups: []uint32{50}, Home: "/"}},
		// USER:GROUP by name and by number; the primary group is not repeated.
		{"app:staff", User{UID: 1000, GID: 50, Groups: []uint32{50, 29}, Home: "/home/app", Name: "app"}},
		{"app:50", User{UID: 1000, GID: 50, Groups: []uint32{50, 29}, Home: "/home/app", Name: "app"}},
		{"1000:1000", User{UID: 1000, GID: 1000, Groups: []uint32{1000, 50, 29}, Home: "/home/app", Name: "app"}},
		{"app:60", User{UID: 1000, GID: 60, Groups: []uint32{60, 50, 29}, Home: "/home/app", Name: "app"}},
		// A group line with no member list still resolves by name.
		{"app:docker", User{UID: 1000, GID: 999, Groups: []uint32{999, 50, 29}, Home: "/home/app", Name: "app"}},
	}
	for _, tt := range tests {
		checkLookup(t, tt.spec, passwd, group, tt.want)
	}
}

// checkLookup fails t unless spec resolves to want with these files.
func checkLookup(t *testing.T, spec, passwd, group string, want User) {
	t.Helper()
	got, err := LookupUser(spec, passwd, group)
	if err != nil {
		t.Errorf("LookupUser(%q): %v", spec, err)
		return
	}
	if got.UID != want.UID || got.GID != want.GID || got.Home != want.Home ||
		got.Name != want.Name || !slices.Equal(got.Groups, want.Groups) {
		t.Errorf("LookupUser(%q) = %+v, want %+v", spec, got, want)
	}
}

func TestLookupUserErrors(t *testing.T) {
	t.Parallel()
	passwd, group := writeFixture(t, testPasswd, testGroup)
	tests := []struct {
		spec    string
		errPart string
	}{
		{"", "want USER[:GROUP]"},
		{":staff", "want USER[:GROUP]"},
		{"app:", "want USER[:GROUP]"},
		{"nobody", "no such user"},
		{"short", "no such user"}, // too few fields: the line is skipped
		{"bad", "malformed passwd entry"},
		{"badgid", "malformed passwd entry"},
		{"app:nogroup", "no such group"},
		{"app:broken", "malformed group entry"},
	}
	for _, tt := range tests {
		got, err := LookupUser(tt.spec, passwd, group)
		if err == nil {
			t.Errorf("LookupUser(%q) = %+v, want an error", tt.spec, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.errPart) {
			t.Errorf("LookupUser(%q) error %q, want it to contain %q", tt.spec, err, tt.errPart)
		}
		if !strings.Contains(err.Error(), `"`+tt.spec+`"`) {
			t.Errorf("LookupUser(%q) error %q does not name the spec", tt.spec, err)
		}
	}
}

func TestLookupUserMissingFiles(t *testing.T) {
	t.Parallel()
	passwd, noGroup := writeFixture(t, testPasswd, "")

	t.Run("no group file is tolerated", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			spec string
			want User
		}{
			{"app", User{UID: 1000, GID: 1000, Groups: []uint32{1000}, Home: "/home/app", Name: "app"}},
			{"app:50", User{UID: 1000, GID: 50, Groups: []uint32{50}, Home: "/home/app", Name: "app"}},
			{"4242", User{UID: 4242, GID: 0, Groups: []uint32{0}, Home: "/"}},
		}
		for _, tt := range tests {
			checkLookup(t, tt.spec, passwd, noGroup, tt.want)
		}
		if _, err := LookupUser("app:staff", passwd, noGroup); err == nil || !strings.Contains(err.Error(), "no such group") {
			t.Errorf("LookupUser(app:staff) without /etc/group: err = %v, want no such group", err)
		}
	})

	t.Run("no passwd file is an error for a name", func(t *testing.T) {
		t.Parallel()
		_, err := LookupUser("app", filepath.Join(t.TempDir(), "passwd"), noGroup)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("LookupUser without passwd: err = %v, want a not-exist error", err)
		}
		if err != nil && !strings.Contains(err.Error(), "numeric UID[:GID]") {
			t.Errorf("LookupUser without passwd: err = %v, want the numeric form suggested", err)
		}
	})

	// FROM scratch: neither file exists, and numbers need neither.
	t.Run("numbers need no passwd or group file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		noPasswd, noGroup := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
		tests := []struct {
			spec   string
			ownGID uint32
			want   User
		}{
			{"1000:1000", 0, User{UID: 1000, GID: 1000, Groups: []uint32{1000}, Home: "/"}},
			{"1000:0", 0, User{UID: 1000, GID: 0, Groups: []uint32{0}, Home: "/"}},
			// No group: hush's own, 0 for root as Docker gives.
			{"1000", 0, User{UID: 1000, GID: 0, Groups: []uint32{0}, Home: "/"}},
			{"1000", 1000, User{UID: 1000, GID: 1000, Groups: []uint32{1000}, Home: "/"}},
			{"0", 0, User{UID: 0, GID: 0, Groups: []uint32{0}, Home: "/"}},
		}
		for _, tt := range tests {
			got, err := lookupUser(tt.spec, noPasswd, noGroup, tt.ownGID)
			if err != nil {
				t.Errorf("lookupUser(%q) without passwd and group: %v", tt.spec, err)
				continue
			}
			if got.UID != tt.want.UID || got.GID != tt.want.GID || got.Home != tt.want.Home ||
				got.Name != tt.want.Name || !slices.Equal(got.Groups, tt.want.Groups) {
				t.Errorf("lookupUser(%q, own gid %d) = %+v, want %+v", tt.spec, tt.ownGID, got, tt.want)
			}
		}
		if _, err := lookupUser("1000:staff", noPasswd, noGroup, 0); err == nil || !strings.Contains(err.Error(), "no such group") {
			t.Errorf("lookupUser(1000:staff) without /etc/group: err = %v, want no such group", err)
		}
	})

	t.Run("an unreadable passwd path is an error even for a number", func(t *testing.T) {
		t.Parallel()
		_, err := lookupUser("1000", t.TempDir(), noGroup, 0)
		if err == nil {
			t.Error("lookupUser with a directory as /etc/passwd: want an error")
		}
	})

	t.Run("an unreadable group path is an error", func(t *testing.T) {
		t.Parallel()
		// A directory opens but cannot be read as lines.
		_, err := LookupUser("app", passwd, t.TempDir())
		if err == nil {
			t.Error("LookupUser with a directory as /etc/group: want an error")
		}
	})
}

func TestCredential(t *testing.T) {
	t.Parallel()
	app := User{UID: 1000, GID: 1000, Groups: []uint32{1000}, Name: "app"}
	root := identity{uid: 0, gid: 0, groups: []uint32{0, 1, 2}, canSetUID: true, canSetGID: true}
	nonRoot := identity{uid: 1000, gid: 1000, groups: []uint32{1000}}
	tests := []struct {
		name    string
		user    User
		self    identity
		want    *syscall.Credential // nil: no change at all
		missing []string
	}{
		{"root switches", app, root, &syscall.Credential{Uid: 1000, Gid: 1000, Groups: []uint32{1000}}, nil},
		{"already that user: no-op", app, nonRoot, nil, nil},
		{"already that user, getgroups lists nothing", app, identity{uid: 1000, gid: 1000}, nil, nil},
		// Kubernetes fsGroup: the runtime's extra group stays, nothing is attempted.
		{"already that user with a runtime group", app, identity{uid: 1000, gid: 1000, groups: []uint32{1000, 2000}}, nil, nil},
		{"same ids, root sets the user's groups", User{UID: 0, GID: 0, Groups: []uint32{0}}, root,
			&syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{0}}, nil},
		{"same ids and groups as root: no-op", User{UID: 0, GID: 0, Groups: []uint32{2, 0, 1}}, root, nil, nil},
		{"another uid without privileges", User{UID: 0, GID: 1000, Groups: []uint32{1000}}, nonRoot, nil, []string{"CAP_SETUID"}},
		{"another gid without privileges", User{UID: 1000, GID: 0, Groups: []uint32{0}}, nonRoot, nil, []string{"CAP_SETGID"}},
		{"both without privileges", User{UID: 0, GID: 0, Groups: []uint32{0}}, nonRoot, nil, []string{"CAP_SETUID", "CAP_SETGID"}},
		{"root without SETUID", app, identity{uid: 0, gid: 0, canSetGID: true}, nil, []string{"CAP_SETUID"}},
		{"root without SETGID", app, identity{uid: 0, gid: 0, canSetUID: true}, nil, []string{"CAP_SETGID"}},
		// Only the uid changes and the groups match: no setgroups, so no CAP_SETGID.
		{"uid only, groups already right", app, identity{uid: 0, gid: 1000, groups: []uint32{1000}, canSetUID: true},
			&syscall.Credential{Uid: 1000, Gid: 1000, Groups: []uint32{1000}, NoSetGroups: true}, nil},
	}
	for _, tt := range tests {
		got, err := tt.user.credential(tt.self)
		if tt.missing != nil {
			var se *SwitchError
			if !errors.As(err, &se) {
				t.Errorf("%s: err = %v, want a SwitchError", tt.name, err)
				continue
			}
			if !slices.Equal(se.Missing, tt.missing) {
				t.Errorf("%s: missing %q, want %q", tt.name, se.Missing, tt.missing)
			}
			for _, c := range tt.missing {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("%s: error %q does not name %s", tt.name, err, c)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		switch {
		case tt.want == nil && got != nil:
			t.Errorf("%s: credential %+v, want none (no-op)", tt.name, got)
		case tt.want != nil && got == nil:
			t.Errorf("%s: no credential, want %+v", tt.name, tt.want)
		case tt.want != nil && (got.Uid != tt.want.Uid || got.Gid != tt.want.Gid ||
			!slices.Equal(got.Groups, tt.want.Groups) || got.NoSetGroups != tt.want.NoSetGroups):
			t.Errorf("%s: credential %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestCurrentIdentity(t *testing.T) {
	t.Parallel()
	self, err := currentIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if self.uid != uint32(os.Geteuid()) || self.gid != uint32(os.Getegid()) {
		t.Errorf("identity %+v, want uid %d gid %d", self, os.Geteuid(), os.Getegid())
	}
	// /proc/self/status is a second opinion on the effective set.
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var capEff uint64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			if capEff, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil {
				t.Fatal(err)
			}
		}
	}
	if want := capEff&(1<<7) != 0; self.canSetUID != want {
		t.Errorf("canSetUID = %v, CapEff %x says %v", self.canSetUID, capEff, want)
	}
	if want := capEff&(1<<6) != 0; self.canSetGID != want {
		t.Errorf("canSetGID = %v, CapEff %x says %v", self.canSetGID, capEff, want)
	}
}
