package shim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
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
// in a scratch image has neither). A numeric UID[:GID] needs neither file, so
// it works FROM scratch (gosu and su-exec accept numbers too). A numeric user
// without a passwd entry gets HOME=/ and, without a GROUP, the group hush
// itself runs with: gid 0 when hush runs as root, which is what Docker gives
// such a user, and hush's own group when hush already runs as that user
// (docker run --user 1000:1000 with HUSH_USER=1000), so that naming the user
// hush already is changes nothing.
func LookupUser(spec, passwdPath, groupPath string) (User, error) {
	return lookupUser(spec, passwdPath, groupPath, uint32(os.Getegid()))
}

func lookupUser(spec, passwdPath, groupPath string, ownGID uint32) (User, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" || (hasGroup && groupPart == "") {
		return User{}, fmt.Errorf("user %q: want USER[:GROUP]", spec)
	}
	passwd, err := readColonFile(passwdPath)
	if err != nil && !(os.IsNotExist(err) && isNumeric(userPart)) {
		if os.IsNotExist(err) {
			return User{}, fmt.Errorf("user %q: no such user: %w (a numeric UID[:GID] needs no passwd file)", spec, err)
		}
		return User{}, fmt.Errorf("user %q: %w", spec, err)
	}
	u, err := findUser(passwd, userPart, ownGID)
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

func isNumeric(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

func findUser(passwd [][]string, name string, ownGID uint32) (User, error) {
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
		return User{UID: uint32(id), GID: ownGID, Home: "/"}, nil
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

// identity is who a process runs as and which id changes it may make.
type identity struct {
	uid, gid  uint32
	groups    []uint32 // supplementary groups as getgroups(2) lists them
	canSetUID bool     // CAP_SETUID in the effective set
	canSetGID bool     // CAP_SETGID: setgid to another group, setgroups
}

// currentIdentity reads hush's own ids and capabilities. Capabilities, not
// uid 0, decide: root with --cap-drop SETUID cannot switch, and a non-root
// process may hold CAP_SETUID.
func currentIdentity() (identity, error) {
	groups, err := unix.Getgroups()
	if err != nil {
		return identity{}, fmt.Errorf("read own groups: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // version 3 fills two words
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return identity{}, fmt.Errorf("read own capabilities: %w", err)
	}
	self := identity{
		uid:       uint32(unix.Geteuid()),
		gid:       uint32(unix.Getegid()),
		canSetUID: data[0].Effective&(1<<unix.CAP_SETUID) != 0,
		canSetGID: data[0].Effective&(1<<unix.CAP_SETGID) != 0,
	}
	for _, g := range groups {
		self.groups = append(self.groups, uint32(g))
	}
	return self, nil
}

// SwitchError is a --user that needs a capability hush does not hold: the
// usual case is a container started as a non-root user (docker run --user,
// Kubernetes runAsUser) whose image sets HUSH_USER to another user.
type SwitchError struct {
	UID, GID         uint32   // who the child should run as
	HushUID, HushGID uint32   // who hush runs as
	Missing          []string // CAP_SETUID, CAP_SETGID
}

func (e *SwitchError) Error() string {
	caps := strings.Join(e.Missing, " and ")
	return fmt.Sprintf("running the child as uid %d gid %d needs %s, which hush (uid %d gid %d) does not have: "+
		"start the container as root keeping %s, or leave the user switch to the runtime "+
		"(docker run --user, Kubernetes runAsUser) and name that same user or none",
		e.UID, e.GID, caps, e.HushUID, e.HushGID, caps)
}

// CheckSwitch tells, before any secret is read, whether hush can start the
// child as u, so that a switch it cannot make fails with its real cause
// instead of as an EPERM from the exec of the command.
func (u User) CheckSwitch() error {
	self, err := currentIdentity()
	if err != nil {
		return err
	}
	_, err = u.credential(self)
	return err
}

// credential returns what the child's fork must change to run as u, or nil
// when nothing needs changing.
//
// Already running as u's uid and gid is a no-op: no setgroups, setgid or
// setuid is attempted, and the child keeps hush's supplementary groups,
// which the runtime chose (/etc/group membership, Kubernetes fsGroup and
// supplementalGroups). Only a process allowed to set groups (CAP_SETGID, as
// root normally is) still sets u's groups when they differ, as gosu does.
func (u User) credential(self identity) (*syscall.Credential, error) {
	needUID := u.UID != self.uid
	needGID := u.GID != self.gid
	needGroups := !sameGroups(u.GID, u.Groups, self.gid, self.groups)
	if !needUID && !needGID && (!needGroups || !self.canSetGID) {
		return nil, nil
	}
	var missing []string
	if needUID && !self.canSetUID {
		missing = append(missing, "CAP_SETUID")
	}
	if (needGID || needGroups) && !self.canSetGID {
		missing = append(missing, "CAP_SETGID")
	}
	if len(missing) > 0 {
		return nil, &SwitchError{UID: u.UID, GID: u.GID, HushUID: self.uid, HushGID: self.gid, Missing: missing}
	}
	return &syscall.Credential{
		Uid:         u.UID,
		Gid:         u.GID,
		Groups:      u.Groups,
		NoSetGroups: !needGroups,
	}, nil
}

// sameGroups compares two processes' group sets, the primary group
// included: getgroups may or may not list it.
func sameGroups(gidA uint32, a []uint32, gidB uint32, b []uint32) bool {
	setA := append([]uint32{gidA}, a...)
	setB := append([]uint32{gidB}, b...)
	slices.Sort(setA)
	slices.Sort(setB)
	return slices.Equal(slices.Compact(setA), slices.Compact(setB))
}
