package longpoll

import (
	"net"
	"net/http"
)

// remoteIP is the client's address without its port: what names an
// anonymous long-poll client in presence (presence.PollClient).
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
