package shim

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
		got, err := LookupUser(tt.spec, passwd, group)
		if err != nil {
			t.Errorf("LookupUser(%q): %v", tt.spec, err)
			continue
		}
		if got.UID != tt.want.UID || got.GID != tt.want.GID || got.Home != tt.want.Home ||
			got.Name != tt.want.Name || !slices.Equal(got.Groups, tt.want.Groups) {
			t.Errorf("LookupUser(%q) = %+v, want %+v", tt.spec, got, tt.want)
		}
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
			got, err := LookupUser(tt.spec, passwd, noGroup)
			if err != nil {
				t.Errorf("LookupUser(%q): %v", tt.spec, err)
				continue
			}
			if got.UID != tt.want.UID || got.GID != tt.want.GID || got.Home != tt.want.Home ||
				got.Name != tt.want.Name || !slices.Equal(got.Groups, tt.want.Groups) {
				t.Errorf("LookupUser(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
		}
		if _, err := LookupUser("app:staff", passwd, noGroup); err == nil || !strings.Contains(err.Error(), "no such group") {
			t.Errorf("LookupUser(app:staff) without /etc/group: err = %v, want no such group", err)
		}
	})

	t.Run("no passwd file is an error", func(t *testing.T) {
		t.Parallel()
		_, err := LookupUser("app", filepath.Join(t.TempDir(), "passwd"), noGroup)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("LookupUser without passwd: err = %v, want a not-exist error", err)
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
