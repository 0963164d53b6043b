package wire

import (
	"errors"
	"strconv"

	"github.com/rtbroker/rtbroker/broker"
)

// ErrorBody is the error object: {"code","message"} in an HTTP error
// body ({"error": ErrorBody}) and a Socket.IO error ack, connect_error
// data; with "event" (the failed event's name) in the Socket.IO error
// event. Message is omitted when empty (Classify always gives one).
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
	Event   string `json:"event,omitempty"`
}

// NewErrorBody is err's error object (see Classify).
func NewErrorBody(err error) ErrorBody {
	_, code, msg := Classify(err)
	return ErrorBody{Code: code, Message: msg}
}

// AppendJSON appends e as encoding/json encodes it.
func (e *ErrorBody) AppendJSON(b []byte) []byte {
	b = append(b, `{"code":`...)
	b = broker.AppendJSONString(b, e.Code)
	if e.Message != "" {
		b = append(b, `,"message":`...)
		b = broker.AppendJSONString(b, e.Message)
	}
	if e.Event != "" {
		b = append(b, `,"event":`...)
		b = broker.AppendJSONString(b, e.Event)
	}
	return append(b, '}')
}

// Reset is the reset object: a client's position could not be served
// exactly (it was trimmed by retention, or is from another log), so the
// client is told where it resumes instead — never a silent gap. Requested
// is the offset the client asked for, Resume the one it continues from.
// Room names the one room it concerns (SSE, long-poll, absent when it
// concerns all of them), Rooms the rooms (Socket.IO's reset event), Epoch
// the log the positions belong to (SSE, Socket.IO's reset event). A field
// a transport does not send is left empty and omitted:
//
//	SSE `event: reset`:        {reason, room?, requested, resume, epoch}
//	long-poll, history "reset": {reason, room?, requested, resume}
//	Socket.IO join ack "reset": {reason, requested, resume}
//	Socket.IO `reset` event:    {reason, rooms, requested, resume, epoch}
type Reset struct {
	Reason    string   `json:"reason"`
	Room      string   `json:"room,omitempty"`
	Rooms     []string `json:"rooms,omitempty"`
	Requested uint64   `json:"requested"`
	Resume    uint64   `json:"resume"`
	Epoch     string   `json:"epoch,omitempty"`
}

// NewReset is the reset object of re, with its room and the epoch it
// resumes in; its reason is ReasonEpochMismatch or ReasonTrimmed.
func NewReset(re *broker.ResetError) Reset {
	reason := ReasonTrimmed
	if errors.Is(re.Reason, broker.ErrEpochMismatch) {
		reason = ReasonEpochMismatch
	}
	return Reset{
		Reason:    reason,
		Room:      re.Room,
		Requested: re.Requested.Offset,
		Resume:    re.Resume.Offset,
		Epoch:     re.Resume.Epoch,
	}
}

// AppendJSON appends r as encoding/json encodes it, without its
// reflection: SSE and long-poll write it on their hot paths.
func (r *Reset) AppendJSON(b []byte) []byte {
	b = append(b, `{"reason":`...)
	b = broker.AppendJSONString(b, r.Reason)
	if r.Room != "" {
		b = append(b, `,"room":`...)
		b = broker.AppendJSONString(b, r.Room)
	}
	if len(r.Rooms) > 0 {
		b = append(b, `,"rooms":[`...)
		for i, room := range r.Rooms {
			if i > 0 {
				b = append(b, ',')
			}
			b = broker.AppendJSONString(b, room)
		}
		b = append(b, ']')
	}
	b = append(b, `,"requested":`...)
	b = strconv.AppendUint(b, r.Requested, 10)
	b = append(b, `,"resume":`...)
	b = strconv.AppendUint(b, r.Resume, 10)
	if r.Epoch != "" {
		b = append(b, `,"epoch":`...)
		b = broker.AppendJSONString(b, r.Epoch)
	}
	return append(b, '}')
}
