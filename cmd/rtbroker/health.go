package main

import (
	"encoding/json"
	"net/http"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/bolt"
)

// healthBody is the JSON of /healthz and /readyz.
type healthBody struct {
	Status  string   `json:"status"` // "ok" or "degraded"
	Head    uint64   `json:"head"`
	Epoch   string   `json:"epoch"`
	Reasons []string `json:"reasons,omitempty"` // why degraded
}

// healthOf returns the health of the broker and its log.
func healthOf(b *broker.Broker, l healthReporter) healthBody {
	head := b.Head()
	body := healthBody{Status: "ok", Head: head.Offset, Epoch: head.Epoch}
	h := l.Health()
	if h.Full != "" {
		body.Reasons = append(body.Reasons, "storage full or read-only, publishes are refused: "+h.Full)
	}
	body.Reasons = append(body.Reasons, h.Damaged...)
	why := ""
	if u, ok := l.(unavailabler); ok {
		why = u.Unavailable()
	}
	if why != "" {
		body.Reasons = append(body.Reasons, why)
	}
	if h.Degraded() || why != "" {
		body.Status = "degraded"
	}
	return body
}

// healthHandler answers /healthz (liveness): always 200 while the process
// serves, with status "ok" or "degraded" and the reasons. With ready set
// it answers /readyz (readiness, for load balancers): the same body, but
// 503 while degraded.
// healthReporter is a store that reports a full disk and damaged parts
// (the bbolt log; a JetStream store reports nothing: NATS has its own
// monitoring).
type healthReporter interface{ Health() bolt.Health }

// noHealth reports nothing.
type noHealth struct{}

func (noHealth) Health() bolt.Health { return bolt.Health{} }

// unavailabler is a store that can tell that it cannot commit now (a
// JetStream stream without a leader).
type unavailabler interface{ Unavailable() string }

// jsHealth is the health of a JetStream store: no disk of ours to report
// on, but whether the stream can commit.
type jsHealth struct{ *availability }

func (jsHealth) Health() bolt.Health { return bolt.Health{} }

func healthHandler(b *broker.Broker, l healthReporter, ready bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := healthOf(b, l)
		out, _ := json.Marshal(body) // plain strings and numbers: cannot fail
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if ready && body.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write(append(out, '\n'))
	}
}
