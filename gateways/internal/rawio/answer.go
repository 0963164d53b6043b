package rawio

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// WriteAnswer writes head and body to a hijacked connection without
// blocking (through rc; with rc nil, nothing is written) and returns what
// the socket did not take, nil when it took everything, for the caller to
// write from a goroutine under a deadline. err is the socket's error:
// nothing more can be written. A deadline that has passed is not an
// error: the rest is returned.
func WriteAnswer(rc syscall.RawConn, head, body []byte) (rest net.Buffers, err error) {
	n := 0
	if rc != nil {
		var w Writer
		n, err = w.Writev(rc, [][]byte{head, body})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil
		}
	}
	if err != nil || n == len(head)+len(body) {
		return nil, err
	}
	rest = net.Buffers{head, body} // Writev may have resliced the elements it was given
	for n > 0 {
		k := min(n, len(rest[0]))
		rest[0], n = rest[0][k:], n-k
		if len(rest[0]) == 0 {
			rest = rest[1:]
		}
	}
	return rest, nil
}
