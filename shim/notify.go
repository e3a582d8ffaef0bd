package shim

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// notifySocket receives sd_notify(3) messages for ONE generation. Each
// generation gets its own socket, so a READY=1 from a grandchild (npm ->
// node) counts for the generation it belongs to; and the kernel's
// credentials on every datagram (SO_PASSCRED) let hush check that the
// sender really is a process of that generation, so no other process can
// mark it ready. The address is in the abstract namespace: nothing to
// create on a read-only root filesystem, nothing to clean up.
//
// The socket is read for the generation's whole life, by one goroutine
// blocked in the runtime's poller (no wakeups while nothing is sent): a
// socket nobody reads would fill up, and an app that sends STATUS= lines
// with a blocking sendto would then hang.
type notifySocket struct {
	file *os.File // the datagram socket, non-blocking, in the runtime's poller
	addr string   // as NOTIFY_SOCKET gives it: @name
	done chan struct{}
}

// notifyMsg is a READY=1 received for generation gen from process pid.
type notifyMsg struct {
	gen, pid int
}

func newNotifySocket(gen int, out chan<- notifyMsg) (*notifySocket, error) {
	// An unguessable name, so no other process can take it first. From
	// getrandom(2) directly: crypto/rand would link math/big, about 150 kB
	// of the files-only flavour's budget, for these eight bytes.
	var r [8]byte
	if n, err := unix.Getrandom(r[:], 0); err != nil || n != len(r) {
		return nil, fmt.Errorf("notify socket: random name: %d bytes, %v", n, err)
	}
	// A leading '@' is how Go (and NOTIFY_SOCKET) spell the abstract
	// namespace's leading NUL.
	addr := fmt.Sprintf("@hush/%d/%d/%s", os.Getpid(), gen, hex.EncodeToString(r[:]))
	file, err := listenNotify(addr)
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	n := &notifySocket{file: file, addr: addr, done: make(chan struct{})}
	go n.read(gen, out)
	return n, nil
}

// read forwards every READY=1 with its sender until the socket is closed.
func (n *notifySocket) read(gen int, out chan<- notifyMsg) {
	defer close(n.done)
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	raw, err := n.file.SyscallConn()
	if err != nil {
		return
	}
	for {
		var nb, oobn int
		var rerr error
		err := raw.Read(func(fd uintptr) bool {
			// MSG_CMSG_CLOEXEC: descriptors a sender attaches must not
			// leak into the next child even for the moment they exist.
			nb, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
			return rerr != unix.EAGAIN && rerr != unix.EINTR
		})
		if err != nil {
			return // closed
		}
		if rerr != nil {
			continue // a failed receive of one datagram; the socket is still good
		}
		pid := senderPid(oob[:oobn])
		if pid <= 0 || !isReady(buf[:nb]) {
			continue
		}
		select {
		case out <- notifyMsg{gen: gen, pid: pid}:
		default:
			// The loop has a backlog of READY=1 already; one is enough.
		}
	}
}

// isReady reports whether a notify message holds the line READY=1.
func isReady(msg []byte) bool {
	for _, line := range bytes.Split(msg, []byte("\n")) {
		if string(bytes.TrimSpace(line)) == "READY=1" {
			return true
		}
	}
	return false
}

// senderPid returns the kernel-given pid of the sender. Descriptors a
// sender passed along (SCM_RIGHTS) are closed: hush wants none of them.
func senderPid(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	pid := 0
	for _, m := range msgs {
		if fds, err := unix.ParseUnixRights(&m); err == nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			continue
		}
		if c, err := unix.ParseUnixCredentials(&m); err == nil && pid == 0 {
			pid = int(c.Pid)
		}
	}
	return pid
}

// listenNotify opens the datagram socket with plain system calls (the net
// package would put the whole network stack into the files-only flavour).
// It is non-blocking so that os.NewFile registers it with the runtime's
// poller: the reader then waits without a thread, and Close wakes it.
func listenNotify(addr string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	// SO_PASSCRED before bind: no datagram can arrive without its sender's
	// credentials.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// x/sys/unix turns a leading '@' into the abstract namespace's NUL.
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: addr}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "notify "+addr), nil
}

// close stops the reader and waits for it.
func (n *notifySocket) close() {
	if n == nil {
		return
	}
	n.file.Close()
	<-n.done
}
