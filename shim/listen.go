package shim

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
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
func ParseListen(s string) (ListenSpec, error) {
	u, err := url.Parse(s)
	if err != nil {
		return ListenSpec{}, fmt.Errorf("listen address %q: %w", s, err)
	}
	spec := ListenSpec{Network: u.Scheme, Mode: 0o666}
	q := u.Query()
	for k := range q {
		if k != "name" && k != "mode" {
			return ListenSpec{}, fmt.Errorf("listen address %q: unknown parameter %q (want name or mode)", s, k)
		}
	}
	switch u.Scheme {
	case "tcp":
		if u.Path != "" || u.User != nil || u.Fragment != "" {
			return ListenSpec{}, fmt.Errorf("listen address %q: want tcp://HOST:PORT", s)
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil {
			return ListenSpec{}, fmt.Errorf("listen address %q: want tcp://HOST:PORT: %w", s, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return ListenSpec{}, fmt.Errorf("listen address %q: port %q is not 1 to 65535", s, port)
		}
		spec.Address = net.JoinHostPort(host, port)
		if q.Has("mode") {
			return ListenSpec{}, fmt.Errorf("listen address %q: mode is for unix sockets", s)
		}
	case "unix":
		if u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			return ListenSpec{}, fmt.Errorf("listen address %q: want unix:///absolute/path", s)
		}
		spec.Address = u.Path
		if m := q.Get("mode"); m != "" {
			n, err := strconv.ParseUint(m, 8, 32)
			if err != nil || n > 0o777 {
				return ListenSpec{}, fmt.Errorf("listen address %q: mode %q is not octal permissions such as 0660", s, m)
			}
			spec.Mode = os.FileMode(n)
		}
	default:
		return ListenSpec{}, fmt.Errorf("listen address %q: want tcp://HOST:PORT or unix:///path", s)
	}
	spec.Name = q.Get("name")
	if spec.Name == "" {
		// LISTEN_FDNAMES is split on ':', which addresses contain.
		spec.Name = strings.ReplaceAll(spec.Address, ":", "_")
	}
	if err := validFDName(spec.Name); err != nil {
		return ListenSpec{}, fmt.Errorf("listen address %q: %w", s, err)
	}
	return spec, nil
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
		if l.Spec.Network == "unix" {
			_ = os.Remove(l.Spec.Address)
		}
	}
}

func listenOne(s ListenSpec) (Listener, error) {
	var (
		fd  int
		err error
	)
	switch s.Network {
	case "tcp":
		fd, err = listenTCP(s.Address)
	case "unix":
		fd, err = listenUnix(s.Address, s.Mode)
	default:
		err = fmt.Errorf("unknown network %q", s.Network)
	}
	if err != nil {
		return Listener{}, fmt.Errorf("listen on %s://%s: %w", s.Network, s.Address, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return Listener{}, fmt.Errorf("listen on %s://%s: %w", s.Network, s.Address, err)
	}
	return Listener{Spec: s, File: os.NewFile(uintptr(fd), s.Name), Inode: st.Ino}, nil
}

// The sockets are made with plain system calls rather than net.Listen so
// that their flags are hush's choice: close-on-exec in hush (the child gets
// them through its file table, not by accident), and blocking, as systemd
// passes them, since a runtime that wants non-blocking sets it itself.
func listenTCP(address string) (int, error) {
	addr, err := net.ResolveTCPAddr("tcp", address)
	if err != nil {
		return -1, err
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ip4 := addr.IP.To4(); ip4 != nil {
		sa4 := &unix.SockaddrInet4{Port: addr.Port}
		copy(sa4.Addr[:], ip4)
		sa = sa4
	} else if addr.IP == nil {
		// "tcp://:8080": every address, both families, as net.Listen does.
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: addr.Port}
	} else {
		family = unix.AF_INET6
		sa6 := &unix.SockaddrInet6{Port: addr.Port}
		copy(sa6.Addr[:], addr.IP.To16())
		sa = sa6
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

func listenUnix(path string, mode os.FileMode) (int, error) {
	// A socket left by an earlier run is replaced; anything else at the
	// path is not hush's to delete.
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return -1, fmt.Errorf("%s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return -1, err
		}
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	// fchmod does not apply to a socket's file; chmod by path, before
	// listen, so nobody connects while the mode is still the umask's.
	if err := os.Chmod(path, mode); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return -1, err
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return -1, err
	}
	return fd, nil
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
