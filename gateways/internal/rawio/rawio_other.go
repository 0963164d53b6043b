//go:build !linux

package rawio

import (
	"errors"
	"syscall"
)

// Supported reports whether Writer and PeerClosed work on this system: not
// on this one.
const Supported = false

// Writer is unusable where Supported is false.
type Writer struct{}

// Writev returns errors.ErrUnsupported.
func (w *Writer) Writev(syscall.RawConn, [][]byte) (int, error) {
	return 0, errors.ErrUnsupported
}

// PeerClosed reports false.
func PeerClosed(syscall.RawConn) bool { return false }

// Discard reports false.
func Discard(syscall.RawConn, int) bool { return false }

// Read returns errors.ErrUnsupported.
func Read(syscall.RawConn, []byte) (int, error) { return 0, errors.ErrUnsupported }
