package shim

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Socket activation: hush opens the listening sockets itself, once, before
// the first child, and hands the very same sockets to every generation. A
// connection that arrives while one generation stops and the next starts
// waits in the socket's queue instead of being refused, and during a rolling
// restart both generations accept from one queue.

// listenFDsStart is SD_LISTEN_FDS_START: the first passed descriptor.
const listenFDsStart = 3

// ListenSpec is one parsed --listen address.
type ListenSpec struct {
	Network string      // "tcp" or "unix"
	Address string      // host:port, or the socket's path
	Name    string      // for LISTEN_FDNAMES
	Mode    os.FileMode // unix sockets: the file's permissions
}

// ParseListen parses tcp://HOST:PORT, tcp://[::]:PORT or unix:///path, with
// optional ?name=NAME (default: the address) and, for unix sockets,
// ?mode=0660 (default 0666, what systemd's SocketMode= defaults to: access
// is then decided by the directory).
//
// It is written by hand rather than with net/url and net: those packages
// would link the whole network stack (resolver included) into the files-only
// flavour, which must stay within its size budget (docs/budgets.md).
func ParseListen(s string) (ListenSpec, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return ListenSpec{}, fmt.Errorf("listen address %q: want tcp://HOST:PORT or unix:///path", s)
	}
	if strings.Contains(rest, "#") {
		return ListenSpec{}, fmt.Errorf("listen address %q: a fragment (#) has no meaning here", s)
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	q, err := parseListenQuery(rawQuery)
	if err != nil {
		return ListenSpec{}, fmt.Errorf("listen address %q: %w", s, err)
	}
	spec := ListenSpec{Network: strings.ToLower(scheme), Mode: 0o666}
	switch spec.Network {
	case "tcp":
		if strings.ContainsAny(rest, "/@") {
			return ListenSpec{}, fmt.Errorf("listen address %q: want tcp://HOST:PORT", s)
		}
		host, port, err := splitHostPort(rest)
		if err != nil {
			return ListenSpec{}, fmt.Errorf("listen address %q: want tcp://HOST:PORT: %w", s, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || !allDigits(port) {
			return ListenSpec{}, fmt.Errorf("listen address %q: port %q is not 1 to 65535", s, port)
		}
		if _, err := listenIP(host); err != nil {
			return ListenSpec{}, fmt.Errorf("listen address %q: %w", s, err)
		}
		if strings.Contains(host, ":") {
			spec.Address = "[" + host + "]:" + port
		} else {
			spec.Address = host + ":" + port
		}
		if _, ok := q["mode"]; ok {
			return ListenSpec{}, fmt.Errorf("listen address %q: mode is for unix sockets", s)
		}
	case "unix":
		path, err := unescape(rest, false)
		if err != nil {
			return ListenSpec{}, fmt.Errorf("listen address %q: %w", s, err)
		}
		if !strings.HasPrefix(path, "/") || strings.IndexByte(path, 0) >= 0 {
			return ListenSpec{}, fmt.Errorf("listen address %q: want unix:///absolute/path", s)
		}
		spec.Address = path
		if m := q["mode"]; m != "" {
			n, err := strconv.ParseUint(m, 8, 32)
			if err != nil || n > 0o777 {
				return ListenSpec{}, fmt.Errorf("listen address %q: mode %q is not octal permissions such as 0660", s, m)
			}
			spec.Mode = os.FileMode(n)
		}
	default:
		return ListenSpec{}, fmt.Errorf("listen address %q: want tcp://HOST:PORT or unix:///path", s)
	}
	spec.Name = q["name"]
	if spec.Name == "" {
		// LISTEN_FDNAMES is split on ':', which addresses contain.
		spec.Name = strings.ReplaceAll(spec.Address, ":", "_")
	}
	if err := validFDName(spec.Name); err != nil {
		return ListenSpec{}, fmt.Errorf("listen address %q: %w", s, err)
	}
	return spec, nil
}

// parseListenQuery reads name=..&mode=.., percent-decoded as a URL query
// is. A repeated parameter keeps its first value, as url.Values.Get did.
func parseListenQuery(raw string) (map[string]string, error) {
	q := map[string]string{}
	if raw == "" {
		return q, nil
	}
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		if strings.Contains(kv, ";") {
			return nil, errors.New("';' is not a parameter separator, use '&'")
		}
		rawK, rawV, _ := strings.Cut(kv, "=")
		k, err := unescape(rawK, true)
		if err != nil {
			return nil, err
		}
		v, err := unescape(rawV, true)
		if err != nil {
			return nil, err
		}
		if k != "name" && k != "mode" {
			return nil, fmt.Errorf("unknown parameter %q (want name or mode)", k)
		}
		if _, dup := q[k]; !dup {
			q[k] = v
		}
	}
	return q, nil
}

// unescape decodes %XX escapes, and '+' as a space in a query.
func unescape(s string, query bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", fmt.Errorf("invalid escape %q", s[i:min(i+3, len(s))])
			}
			n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(n))
			i += 2
		case c == '+' && query:
			b.WriteByte(' ')
		case c < 0x20 || c == 0x7f:
			return "", errors.New("control character in the address")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// splitHostPort splits HOST:PORT or [IPv6]:PORT; the host may be empty.
func splitHostPort(hostport string) (host, port string, err error) {
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", "", errors.New("missing ']' in address")
		}
		host, rest := hostport[1:end], hostport[end+1:]
		if !strings.HasPrefix(rest, ":") {
			return "", "", errors.New("missing port in address")
		}
		return host, rest[1:], nil
	}
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return "", "", errors.New("missing port in address")
	}
	host, port = hostport[:i], hostport[i+1:]
	if strings.ContainsAny(host, ":[]") || strings.ContainsAny(port, "[]") {
		return "", "", errors.New("an IPv6 address must be in brackets: [::1]:PORT")
	}
	return host, port, nil
}

// listenIP turns a --listen host into the address to bind: empty for every
// address, an IP literal, or "localhost". Other host names are refused:
// resolving them would make a PID 1 depend on DNS (and /etc/nsswitch.conf)
// just to start, and a name that resolves to several or changing addresses
// makes it unclear what is bound. "localhost" is accepted and means
// 127.0.0.1, the address net.Listen would bind for it.
func listenIP(host string) (netip.Addr, error) {
	switch {
	case host == "":
		return netip.Addr{}, nil
	case strings.EqualFold(host, "localhost"):
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("host %q is not an IP address: give an IP such as 127.0.0.1, [::1] or 0.0.0.0 (or localhost); hush does not resolve host names, so starting does not depend on DNS", host)
	}
	if ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("host %q: an IPv6 zone (%%interface) is not supported", host)
	}
	return ip.Unmap(), nil
}

// validFDName follows systemd's rule for FileDescriptorName=: printable
// ASCII, no ':', at most 255 bytes.
func validFDName(name string) error {
	if len(name) > 255 {
		return errors.New("name longer than 255 bytes")
	}
	for _, c := range []byte(name) {
		if c < 0x21 || c > 0x7e || c == ':' {
			return fmt.Errorf("name %q must be printable ASCII without ':' or spaces", name)
		}
	}
	return nil
}

// Listener is an open listening socket hush passes to its children.
type Listener struct {
	Spec  ListenSpec
	File  *os.File
	Inode uint64 // the socket's inode, to recognise it in another process's /proc

	// For a unix socket: its directory, held open, and the identity of
	// the file hush created there, so that only that file is removed at
	// exit (see socketFile).
	file *socketFile
}

// Listen opens every socket. It runs before the first child and before any
// change of user, so an unprivileged child can serve port 80. On error the
// sockets already opened are closed.
func Listen(specs []ListenSpec) ([]Listener, error) {
	var out []Listener
	for _, s := range specs {
		l, err := listenOne(s)
		if err != nil {
			CloseListeners(out)
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// CloseListeners closes the sockets (and removes unix socket files).
func CloseListeners(ls []Listener) {
	for _, l := range ls {
		l.File.Close()
		if l.file != nil {
			l.file.remove()
		}
	}
}

func listenOne(s ListenSpec) (Listener, error) {
	var (
		fd   int
		file *socketFile
		err  error
	)
	switch s.Network {
	case "tcp":
		fd, err = listenTCP(s.Address)
	case "unix":
		fd, file, err = listenUnix(s.Address, s.Mode)
	default:
		err = fmt.Errorf("unknown network %q", s.Network)
	}
	if err != nil {
		return Listener{}, fmt.Errorf("listen on %s://%s: %w", s.Network, s.Address, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		if file != nil {
			file.remove()
		}
		return Listener{}, fmt.Errorf("listen on %s://%s: %w", s.Network, s.Address, err)
	}
	return Listener{Spec: s, File: os.NewFile(uintptr(fd), s.Name), Inode: st.Ino, file: file}, nil
}

// The sockets are made with plain system calls rather than net.Listen so
// that their flags are hush's choice: close-on-exec in hush (the child gets
// them through its file table, not by accident), and blocking, as systemd
// passes them, since a runtime that wants non-blocking sets it itself.
func listenTCP(address string) (int, error) {
	host, portStr, err := splitHostPort(address)
	if err != nil {
		return -1, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return -1, fmt.Errorf("port %q: %w", portStr, err)
	}
	ip, err := listenIP(host)
	if err != nil {
		return -1, err
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	switch {
	case !ip.IsValid():
		// "tcp://:8080": every address, both families, as net.Listen does.
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: port}
	case ip.Is4():
		sa = &unix.SockaddrInet4{Port: port, Addr: ip.As4()}
	default:
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: port, Addr: ip.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	// SO_REUSEADDR: a container restarted at once must not wait for the
	// previous instance's TIME_WAIT connections.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// A unix socket's file lives in a directory that other processes may write
// to: a volume shared with a proxy container, say, or one the child (which
// may be hostile) owns. hush is root here, so every step that names the
// file by path is a chance for someone to swap in a symlink and have root
// act on another file. So the directory is opened once and every later
// step goes through that descriptor or through a descriptor of the file
// itself: the stale socket is looked at and removed with fstatat/unlinkat,
// the new file is opened with O_NOFOLLOW and checked to be the socket hush
// just bound, its mode is set through that descriptor, and at exit it is
// removed only if the same file is still there.
type socketFile struct {
	dir  int // O_PATH descriptor of the socket's directory
	name string
	dev  uint64
	ino  uint64
}

func listenUnix(path string, mode os.FileMode) (int, *socketFile, error) {
	dirPath, name := filepath.Split(path)
	if name == "" {
		return -1, nil, fmt.Errorf("%s names a directory, not a socket", path)
	}
	dir, err := unix.Open(dirPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, nil, fmt.Errorf("open the socket's directory: %w", err)
	}
	f := &socketFile{dir: dir, name: name}
	// fail removes the file only once claim has recognised it as hush's.
	fail := func(fd int, err error) (int, *socketFile, error) {
		if fd >= 0 {
			unix.Close(fd)
		}
		f.remove()
		return -1, nil, err
	}
	// A socket left by an earlier run is replaced; anything else at the
	// path is not hush's to delete.
	var st unix.Stat_t
	switch err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil && st.Mode&unix.S_IFMT != unix.S_IFSOCK:
		return fail(-1, fmt.Errorf("%s exists and is not a socket", path))
	case err == nil:
		if err := unix.Unlinkat(dir, name, 0); err != nil {
			return fail(-1, fmt.Errorf("remove the old socket: %w", err))
		}
	case !errors.Is(err, unix.ENOENT):
		return fail(-1, err)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail(-1, err)
	}
	// bind takes a path and nothing else; what it created is checked
	// right after, through the directory descriptor.
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fail(fd, err)
	}
	if err := f.claim(mode); err != nil {
		return fail(fd, fmt.Errorf("%s: %w", path, err))
	}
	// Listen only now: until then a connect is refused, so nobody gets in
	// while the mode is still the umask's.
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		return fail(fd, err)
	}
	return fd, f, nil
}

// claim opens the file bind just made without following a symlink, checks
// that it is a socket hush owns, records its identity and sets its mode.
// fchmod on the socket's own descriptor would change the socket, not its
// file, and chmod by path would follow whatever link was planted there
// since bind; chmod through /proc/self/fd/N of an O_PATH descriptor
// changes exactly the file that was checked.
func (f *socketFile) claim(mode os.FileMode) error {
	fd, err := unix.Openat(f.dir, f.name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the new socket file: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat the new socket file: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || int(st.Uid) != os.Geteuid() {
		return errors.New("the socket file was replaced while it was being created")
	}
	f.dev, f.ino = st.Dev, st.Ino
	if err := unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), uint32(mode.Perm())); err != nil {
		return fmt.Errorf("set the socket's mode (is /proc mounted?): %w", err)
	}
	return nil
}

// remove deletes the socket file if claim recognised it and it is still
// there, and closes the directory.
func (f *socketFile) remove() {
	if f.dir < 0 {
		return
	}
	var st unix.Stat_t
	if f.ino != 0 && unix.Fstatat(f.dir, f.name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil &&
		st.Dev == f.dev && st.Ino == f.ino {
		_ = unix.Unlinkat(f.dir, f.name, 0)
	}
	unix.Close(f.dir)
	f.dir = -1
}

// listenEnv is the environment sd_listen_fds(3) reads, minus LISTEN_PID,
// which only the child itself can know (see trampoline.go). Variables of the
// same names in env are replaced: hush passes no socket it did not open.
func listenEnv(env []string, ls []Listener) []string {
	out := withoutVars(env, "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Spec.Name
	}
	return append(out, "LISTEN_FDS="+strconv.Itoa(len(ls)), "LISTEN_FDNAMES="+strings.Join(names, ":"))
}

// withoutVars returns env without the named variables.
func withoutVars(env []string, names ...string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			if k == n {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}
