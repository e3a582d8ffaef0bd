package shim

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
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
	conn *net.UnixConn
	addr string // as NOTIFY_SOCKET gives it: @name
	done chan struct{}
}

// notifyMsg is a READY=1 received for generation gen from process pid.
type notifyMsg struct {
	gen, pid int
}

func newNotifySocket(gen int, out chan<- notifyMsg) (*notifySocket, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	// A leading '@' is how Go (and NOTIFY_SOCKET) spell the abstract
	// namespace's leading NUL.
	addr := fmt.Sprintf("@hush/%d/%d/%s", os.Getpid(), gen, hex.EncodeToString(r[:]))
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	raw, err := conn.SyscallConn()
	if err == nil {
		cerr := raw.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		})
		if cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	n := &notifySocket{conn: conn, addr: addr, done: make(chan struct{})}
	go n.read(gen, out)
	return n, nil
}

// read forwards every READY=1 with its sender until the socket is closed.
func (n *notifySocket) read(gen int, out chan<- notifyMsg) {
	defer close(n.done)
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		nb, oobn, _, _, err := n.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return // closed
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

func senderPid(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if c, err := unix.ParseUnixCredentials(&m); err == nil {
			return int(c.Pid)
		}
	}
	return 0
}

// close stops the reader and waits for it.
func (n *notifySocket) close() {
	if n == nil {
		return
	}
	n.conn.Close()
	<-n.done
}
