package jetstream

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/rtbroker/rtbroker/broker"
)

// leaderMsg is a message as a stream's leader returned it.
type leaderMsg struct {
	Seq  uint64 `json:"seq"`
	Hdrs []byte `json:"hdrs"` // NATS/1.0 header block, or nil
	Data []byte `json:"data"`
}

// leaderGet asks stream's leader for one message ($JS.API.STREAM.MSG.GET,
// which only the leader answers, unlike a direct get, which any replica
// that is nearly current may answer) and returns it, or nil when there
// is none. req is the request: {"seq", "next_by_subj"} or
// {"last_by_subj"}. A replica that lags may not have a write that was
// acknowledged; the leader does.
func leaderGet(ctx context.Context, nc *nats.Conn, stream string, req any) (*leaderMsg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	m, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, body)
	if err != nil {
		return nil, fmt.Errorf("jetstream: leader get: %w", unavailable(err))
	}
	var resp struct {
		Error *struct {
			Code    int    `json:"code"`
			ErrCode int    `json:"err_code"`
			Desc    string `json:"description"`
		} `json:"error"`
		Message *leaderMsg `json:"message"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return nil, fmt.Errorf("jetstream: leader get: %w", err)
	}
	switch {
	case resp.Error != nil && resp.Error.Code == 404:
		return nil, nil
	case resp.Error != nil && resp.Error.Code == 503:
		return nil, fmt.Errorf("jetstream: leader get: %w: %d %s", broker.ErrUnavailable, resp.Error.ErrCode, resp.Error.Desc)
	case resp.Error != nil:
		return nil, fmt.Errorf("jetstream: leader get: %d %s", resp.Error.ErrCode, resp.Error.Desc)
	case resp.Message == nil:
		return nil, fmt.Errorf("jetstream: leader get: an answer without a message")
	}
	return resp.Message, nil
}
