package shim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// User is who the child runs as.
type User struct {
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups, the primary one included
	Home   string
	Name   string // empty for a numeric id with no passwd entry
}

// LookupUser resolves USER[:GROUP] the way Docker's --user does, from the
// container's own /etc/passwd and /etc/group (no cgo, no NSS: a static binary
// in a scratch image has neither). A numeric user without a passwd entry is
// accepted with group 0 and HOME=/, as Docker does.
func LookupUser(spec, passwdPath, groupPath string) (User, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" || (hasGroup && groupPart == "") {
		return User{}, fmt.Errorf("user %q: want USER[:GROUP]", spec)
	}
	passwd, err := readColonFile(passwdPath)
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", spec, err)
	}
	u, err := findUser(passwd, userPart)
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", spec, err)
	}
	groups, err := readColonFile(groupPath)
	if err != nil && !os.IsNotExist(err) {
		return User{}, fmt.Errorf("user %q: %w", spec, err)
	}
	if hasGroup {
		gid, err := findGroup(groups, groupPart)
		if err != nil {
			return User{}, fmt.Errorf("user %q: %w", spec, err)
		}
		u.GID = gid
	}
	u.Groups = supplementaryGroups(groups, u.Name, u.GID)
	return u, nil
}

func findUser(passwd [][]string, name string) (User, error) {
	id, numErr := strconv.ParseUint(name, 10, 32)
	for _, f := range passwd {
		if len(f) < 7 {
			continue
		}
		if f[0] == name || (numErr == nil && f[2] == name) {
			uid, err1 := strconv.ParseUint(f[2], 10, 32)
			gid, err2 := strconv.ParseUint(f[3], 10, 32)
			if err1 != nil || err2 != nil {
				return User{}, fmt.Errorf("malformed passwd entry for %q", f[0])
			}
			return User{UID: uint32(uid), GID: uint32(gid), Home: f[5], Name: f[0]}, nil
		}
	}
	if numErr == nil {
		return User{UID: uint32(id), GID: 0, Home: "/"}, nil
	}
	return User{}, errors.New("no such user in /etc/passwd")
}

func findGroup(groups [][]string, name string) (uint32, error) {
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(id), nil
	}
	for _, f := range groups {
		if len(f) >= 3 && f[0] == name {
			gid, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil {
				return 0, fmt.Errorf("malformed group entry for %q", name)
			}
			return uint32(gid), nil
		}
	}
	return 0, fmt.Errorf("no such group %q in /etc/group", name)
}

func supplementaryGroups(groups [][]string, user string, primary uint32) []uint32 {
	ids := []uint32{primary}
	if user == "" {
		return ids
	}
	for _, f := range groups {
		if len(f) < 4 {
			continue
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil || uint32(gid) == primary {
			continue
		}
		for _, member := range strings.Split(f[3], ",") {
			if member == user {
				ids = append(ids, uint32(gid))
				break
			}
		}
	}
	return ids
}

// readColonFile reads a passwd(5)-style file into fields, skipping comments.
// The size is bounded: these files are tiny, and hush reads them as root.
func readColonFile(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(io.LimitReader(f, 8<<20))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rows = append(rows, strings.Split(line, ":"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return rows, nil
}
