//go:build !linux

package engineio

import (
	"errors"
	"syscall"
)

// rawWrites reports whether the engine writes to TCP sockets without
// blocking: not on this system, where a writer goroutine does every write.
const rawWrites = false

// rawWriter is unused where rawWrites is false.
type rawWriter struct{}

func (w *rawWriter) writev(syscall.RawConn, [][]byte) (int, error) {
	return 0, errors.ErrUnsupported
}
