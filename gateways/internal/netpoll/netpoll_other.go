//go:build !linux

package netpoll

import (
	"errors"
	"syscall"
)

// Poller is unavailable on this system: New fails.
type Poller struct{}

// Reg is a registration; there are none on this system.
type Reg struct{}

// New returns errors.ErrUnsupported.
func New() (*Poller, error) { return nil, errors.ErrUnsupported }

// Close does nothing.
func (p *Poller) Close() {}

// Add returns errors.ErrUnsupported.
func (p *Poller) Add(syscall.RawConn, Readier) (*Reg, error) { return nil, errors.ErrUnsupported }

// Arm does nothing.
func (r *Reg) Arm() error { return nil }

// Remove does nothing.
func (r *Reg) Remove() {}
