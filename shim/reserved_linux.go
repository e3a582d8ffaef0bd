package shim

import (
	"syscall"
	"unsafe"
)

// sigRuntimeReserved is the real-time signal users call SIGRTMIN (34). The
// Go runtime reserves it (musl uses it internally) and never installs a
// handler for it, so os/signal cannot catch it and its default action,
// termination, applies to hush.
const sigRuntimeReserved = syscall.Signal(34)

// kernelSigaction is the kernel's struct sigaction. Only the handler is
// set; the zero flags, restorer and mask are valid for SIG_IGN.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	sigDFL = 0
	sigIGN = 1
)

// ignoreRuntimeReserved keeps a stray `kill -RTMIN` from killing hush when
// it is not PID 1 (as PID 1 the kernel already drops signals that have no
// handler). An exec keeps ignored signals ignored, so start puts the
// default action back for the few instants of each fork and exec (see
// withRuntimeReservedDefault): the child starts as it would without hush.
func ignoreRuntimeReserved() error {
	return setRuntimeReserved(sigIGN)
}

// withRuntimeReservedDefault runs fork in a window where signal 34 has its
// default action again, when hush had made it ignored.
func withRuntimeReservedDefault(ignored bool, fork func() error) error {
	if !ignored {
		return fork()
	}
	_ = setRuntimeReserved(sigDFL)
	defer setRuntimeReserved(sigIGN)
	return fork()
}

func setRuntimeReserved(handler uintptr) error {
	sa := kernelSigaction{handler: handler}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sigRuntimeReserved),
		uintptr(unsafe.Pointer(&sa)), 0, unsafe.Sizeof(sa.mask), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
