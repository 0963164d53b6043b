package socketio

import "github.com/rtbroker/rtbroker/gateways/internal/defaults"

// The defaults of GatewayConfig's fields that the command's flags share
// (a zero field takes its default).
const (
	// DefaultMaxRooms is GatewayConfig.MaxRooms's default (32), the same
	// for every gateway (SSE and long-poll requests).
	DefaultMaxRooms = defaults.MaxRooms
	// DefaultMaxPending is GatewayConfig.MaxPending's default.
	DefaultMaxPending = 64
)
