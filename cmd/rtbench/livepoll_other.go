//go:build !linux

package main

import (
	"net"
	"sync/atomic"
)

// livePoller is Linux-only; elsewhere readStream reads every connection.
type livePoller struct{}

type liveReg struct{}

func newLivePoller() *livePoller { return nil }

func (p *livePoller) read(net.Conn, func([]byte) error, *atomic.Pointer[liveReg]) error {
	return errNoPoll
}

func (r *liveReg) detach() {}

func (p *livePoller) close() {}
