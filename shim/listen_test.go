package shim

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseListen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want ListenSpec
	}{
		{"tcp://0.0.0.0:8080", ListenSpec{Network: "tcp", Address: "0.0.0.0:8080", Name: "0.0.0.0_8080", Mode: 0o666}},
		{"tcp://[::]:80", ListenSpec{Network: "tcp", Address: "[::]:80", Name: "[__]_80", Mode: 0o666}},
		{"tcp://:3000?name=web", ListenSpec{Network: "tcp", Address: ":3000", Name: "web", Mode: 0o666}},
		{"unix:///run/app.sock", ListenSpec{Network: "unix", Address: "/run/app.sock", Name: "/run/app.sock", Mode: 0o666}},
		{"unix:///run/app.sock?mode=0600&name=admin", ListenSpec{Network: "unix", Address: "/run/app.sock", Name: "admin", Mode: 0o600}},
	}
	for _, tt := range tests {
		got, err := ParseListen(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseListen(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseListenErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "8080", "udp://:53", "tcp://host", "tcp://:0", "tcp://:70000", "tcp://:http",
		"tcp://:80/path", "tcp://:80?mode=0600", "unix://relative.sock", "unix:///a.sock?mode=999",
		"unix:///a.sock?mode=rw", "tcp://:80?name=a:b", "tcp://:80?name=with%20space", "tcp://:80?color=red",
	} {
		if got, err := ParseListen(in); err == nil {
			t.Errorf("ParseListen(%q) = %+v, want an error", in, got)
		} else if in != "" && !strings.Contains(err.Error(), "listen address") {
			t.Errorf("ParseListen(%q): %q does not say what was wrong with which address", in, err)
		}
	}
}

func TestListenEnvReplacesInherited(t *testing.T) {
	t.Parallel()
	ls := []Listener{{Spec: ListenSpec{Name: "web"}}, {Spec: ListenSpec{Name: "admin"}}}
	got := listenEnv([]string{"A=1", "LISTEN_FDS=7", "LISTEN_PID=1", "LISTEN_FDNAMES=x", "B=2"}, ls)
	want := []string{"A=1", "B=2", "LISTEN_FDS=2", "LISTEN_FDNAMES=web:admin"}
	if !slices.Equal(got, want) {
		t.Errorf("listenEnv = %q, want %q", got, want)
	}
}

// TestListenSockets opens real sockets: a TCP one on a free port and a unix
// one with its mode; a path that is not a socket is never deleted.
func TestListenSockets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	tcp, err := ParseListen("tcp://127.0.0.1:0")
	if err == nil {
		t.Fatal("port 0 must be refused")
	}
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	tcp, err = ParseListen("tcp://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	unixSpec, err := ParseListen("unix://" + sock + "?mode=0640")
	if err != nil {
		t.Fatal(err)
	}
	ls, err := Listen([]ListenSpec{tcp, unixSpec})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o640 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("unix socket: %v, %v; want a socket with mode 0640", fi, err)
	}
	for _, target := range []struct{ network, addr string }{{"tcp", addr}, {"unix", sock}} {
		c, err := net.Dial(target.network, target.addr)
		if err != nil {
			t.Errorf("dial %s: %v", target.addr, err)
			continue
		}
		c.Close()
	}
	for _, l := range ls {
		if l.Inode == 0 {
			t.Errorf("%s: no inode", l.Spec.Address)
		}
	}
	CloseListeners(ls)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the unix socket file is left after close: %v", err)
	}

	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec, _ := ParseListen("unix://" + plain)
	if _, err := Listen([]ListenSpec{spec}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(plain); string(b) != "data" {
		t.Error("a regular file was replaced by a socket")
	}
}

func TestEpollTargets(t *testing.T) {
	t.Parallel()
	info := "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\ntfd:        3 events:       19 data:                3  pos:0 ino:9a6e sdev:8\ntfd:       12 events: 2019 data: c pos:0 ino:1 sdev:9\n"
	if got := epollTargets([]byte(info)); !slices.Equal(got, []int{3, 12}) {
		t.Errorf("epollTargets = %v, want [3 12]", got)
	}
	if got := epollTargets([]byte("pos:\t0\n")); len(got) != 0 {
		t.Errorf("epollTargets(no targets) = %v", got)
	}
}

func TestSocketInode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		link string
		ino  uint64
		ok   bool
	}{
		{"socket:[12345]", 12345, true},
		{"pipe:[12345]", 0, false},
		{"socket:[x]", 0, false},
		{"/dev/null", 0, false},
	} {
		if ino, ok := socketInode(tt.link); ino != tt.ino || ok != tt.ok {
			t.Errorf("socketInode(%q) = %d, %v", tt.link, ino, ok)
		}
	}
}

// TestPollsListenerSelf: this test process registers a socket in an epoll
// instance and is then seen polling it; another inode is not.
func TestPollsListenerSelf(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	link, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	ino, ok := socketInode(link)
	if !ok {
		t.Fatalf("not a socket: %s", link)
	}
	// The Go runtime's netpoller holds the listener in its epoll
	// instance since net.Listen.
	if polls, _ := pollsListener(os.Getpid(), map[uint64]bool{ino: true}); !polls {
		t.Error("the netpoller's epoll registration of the listener was not seen")
	}
	if polls, _ := pollsListener(os.Getpid(), map[uint64]bool{ino + 1000000: true}); polls {
		t.Error("an unrelated inode was seen as polled")
	}
}

func TestIsReady(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		msg  string
		want bool
	}{
		{"READY=1", true},
		{"STATUS=warming up\nREADY=1\n", true},
		{"READY=0", false},
		{"STATUS=READY=1", false},
		{"", false},
	} {
		if got := isReady([]byte(tt.msg)); got != tt.want {
			t.Errorf("isReady(%q) = %v", tt.msg, got)
		}
	}
}

// TestNotifySocket: a READY=1 datagram on a generation's socket comes out
// with the sender's pid, as the kernel vouches for it; other messages do not.
func TestNotifySocket(t *testing.T) {
	t.Parallel()
	out := make(chan notifyMsg, 4)
	n, err := newNotifySocket(7, out)
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	if !strings.HasPrefix(n.addr, "@hush/") {
		t.Errorf("address %q is not abstract", n.addr)
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range []string{"STATUS=starting", "READY=1"} {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	got := <-out
	if got.gen != 7 || got.pid != os.Getpid() {
		t.Errorf("got %+v, want generation 7 from pid %d", got, os.Getpid())
	}
	select {
	case extra := <-out:
		t.Errorf("unexpected message %+v", extra)
	default:
	}
}

// TestParseListenHosts: IP literals and localhost are bound as given; other
// host names are refused with a message asking for an IP (no DNS at start).
func TestParseListenHosts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, addr, bind string }{
		{"tcp://localhost:8080", "localhost:8080", "127.0.0.1"},
		{"tcp://127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1"},
		{"tcp://[::1]:8080", "[::1]:8080", "::1"},
		{"tcp://[::ffff:10.0.0.1]:8080", "[::ffff:10.0.0.1]:8080", "10.0.0.1"},
		{"TCP://:8080", ":8080", "invalid IP"},
	} {
		spec, err := ParseListen(tt.in)
		if err != nil || spec.Address != tt.addr {
			t.Errorf("ParseListen(%q) = %+v, %v; want address %q", tt.in, spec, err, tt.addr)
			continue
		}
		host, _, _ := splitHostPort(spec.Address)
		if ip, err := listenIP(host); err != nil || ip.String() != tt.bind {
			t.Errorf("%q binds %v, %v; want %s", tt.in, ip, err, tt.bind)
		}
	}
	for _, in := range []string{"tcp://example.com:80", "tcp://db:5432", "tcp://[fe80::1%25eth0]:80", "tcp://::1:80", "tcp://1.2.3.4", "tcp://[::1]80"} {
		if _, err := ParseListen(in); err == nil {
			t.Errorf("ParseListen(%q) accepted", in)
		}
	}
	_, err := ParseListen("tcp://example.com:80")
	if err == nil || !strings.Contains(err.Error(), "not an IP address") || !strings.Contains(err.Error(), "DNS") {
		t.Errorf("a host name is refused with %v, want a message asking for an IP address", err)
	}
}

// TestParseListenEscapes: the query and the path are percent-decoded as a
// URL's are.
func TestParseListenEscapes(t *testing.T) {
	t.Parallel()
	spec, err := ParseListen("unix:///run/a%2Bb.sock?name=w%65b&mode=0600&name=second")
	if err != nil || spec.Address != "/run/a+b.sock" || spec.Name != "web" || spec.Mode != 0o600 {
		t.Errorf("got %+v, %v", spec, err)
	}
	for _, in := range []string{"unix:///a%zz.sock", "unix:///a.sock?name=%4", "unix:///a%00.sock", "unix:///a.sock?name=a;mode=0600", "unix:///a.sock#frag"} {
		if _, err := ParseListen(in); err == nil {
			t.Errorf("ParseListen(%q) accepted", in)
		}
	}
}

// TestNotifySocketPassedDescriptors: a sender that attaches descriptors to
// its READY=1 still counts, and hush keeps none of them: the pipe's write end
// it was sent is closed, so the reader sees end of file. (Today the control
// buffer has room for the credentials only, so the kernel already drops the
// descriptors; this guards that, and senderPid's close, against a change.)
func TestNotifySocketPassedDescriptors(t *testing.T) {
	t.Parallel()
	out := make(chan notifyMsg, 4)
	n, err := newNotifySocket(8, out)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sender)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := unix.Sendmsg(sender, []byte("READY=1"), unix.UnixRights(int(w.Fd())), &unix.SockaddrUnix{Name: n.addr}, 0); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got := <-out; got.gen != 8 || got.pid != os.Getpid() {
		t.Errorf("got %+v, want generation 8 from pid %d", got, os.Getpid())
	}
	// close returns only once the reader has stopped: the poller woke it.
	n.close()
	if err := r.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read from the pipe: %v, want EOF (hush kept a passed descriptor)", err)
	}
}

// TestListenLocalhost: tcp://localhost:PORT binds 127.0.0.1, without DNS.
func TestListenLocalhost(t *testing.T) {
	t.Parallel()
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	spec, err := ParseListen("tcp://localhost:" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := Listen([]ListenSpec{spec})
	if err != nil {
		t.Fatal(err)
	}
	defer CloseListeners(ls)
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("dial 127.0.0.1: %v", err)
	}
	c.Close()
}

// TestListenUnixFile covers what hush does to the file system around a unix
// socket: a stale socket is replaced, a symlink or a file put in the
// socket's place is never followed nor removed, and at exit only the file
// hush created is removed.
func TestListenUnixFile(t *testing.T) {
	t.Parallel()
	staleSocket := func(t *testing.T, path string) {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		before  func(t *testing.T, dir, sock string) // what is at the path before Listen
		during  func(t *testing.T, dir, sock string) // what happens while hush runs
		wantErr string
		check   func(t *testing.T, dir, sock string) // after CloseListeners
	}{
		{
			name:   "stale socket replaced",
			before: func(t *testing.T, dir, sock string) { staleSocket(t, sock) },
			check: func(t *testing.T, dir, sock string) {
				if _, err := os.Lstat(sock); !os.IsNotExist(err) {
					t.Errorf("socket left after close: %v", err)
				}
			},
		},
		{
			name: "symlink to a socket refused, target kept",
			before: func(t *testing.T, dir, sock string) {
				staleSocket(t, filepath.Join(dir, "target"))
				if err := os.Symlink(filepath.Join(dir, "target"), sock); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "not a socket",
			check: func(t *testing.T, dir, sock string) {
				if fi, err := os.Lstat(filepath.Join(dir, "target")); err != nil || fi.Mode()&os.ModeSocket == 0 {
					t.Errorf("symlink target: %v, %v; want it untouched", fi, err)
				}
			},
		},
		{
			name: "file put in the socket's place is kept at exit",
			during: func(t *testing.T, dir, sock string) {
				if err := os.Remove(sock); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(sock, []byte("someone else's"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, dir, sock string) {
				if b, err := os.ReadFile(sock); err != nil || string(b) != "someone else's" {
					t.Errorf("the file that replaced the socket: %q, %v; want it kept", b, err)
				}
			},
		},
		{
			name: "symlink put in the socket's place is kept, target untouched",
			during: func(t *testing.T, dir, sock string) {
				victim := filepath.Join(dir, "victim")
				if err := os.WriteFile(victim, []byte("v"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(sock); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(victim, sock); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, dir, sock string) {
				fi, err := os.Stat(filepath.Join(dir, "victim"))
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("symlink target: %v, %v; want it kept with mode 0600", fi, err)
				}
				if _, err := os.Lstat(sock); err != nil {
					t.Errorf("the planted symlink was removed: %v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			sock := filepath.Join(dir, "s.sock")
			if tt.before != nil {
				tt.before(t, dir, sock)
			}
			spec, err := ParseListen("unix://" + sock + "?mode=0606")
			if err != nil {
				t.Fatal(err)
			}
			ls, err := Listen([]ListenSpec{spec})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Listen: %v, want an error with %q", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				// 0606 is not what any usual umask leaves: the mode was set.
				if fi, err := os.Lstat(sock); err != nil || fi.Mode().Perm() != 0o606 || fi.Mode()&os.ModeSocket == 0 {
					t.Errorf("socket file: %v, %v; want a socket with mode 0606", fi, err)
				}
				if tt.during != nil {
					tt.during(t, dir, sock)
				}
				CloseListeners(ls)
			}
			tt.check(t, dir, sock)
		})
	}
}
