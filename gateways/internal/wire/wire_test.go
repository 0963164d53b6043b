package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{name: "body timeout", err: fmt.Errorf("read: %w", ErrBodyTimeout), wantStatus: 408, wantCode: CodeTimeout, wantMsg: "request body not received in time"},
		{name: "body error", err: &BodyError{Err: syscall.ECONNRESET}, wantStatus: 400, wantCode: CodeInvalid, wantMsg: "request body could not be read"},
		{name: "unexpected EOF", err: fmt.Errorf("decode: %w", io.ErrUnexpectedEOF), wantStatus: 400, wantCode: CodeInvalid, wantMsg: "request body could not be read"},
		{name: "rate limited", err: &RateLimited{Wait: time.Second}, wantStatus: 429, wantCode: CodeRateLimited, wantMsg: "rate limit exceeded, retry later"},
		{name: "rate limited with message", err: fmt.Errorf("connect: %w", &RateLimited{Message: "too many"}), wantStatus: 429, wantCode: CodeRateLimited, wantMsg: "too many"},
		{name: "decided", err: fmt.Errorf("x: %w", &Error{422, CodeIdempotency, "reused"}), wantStatus: 422, wantCode: CodeIdempotency, wantMsg: "reused"},
		{name: "bad request", err: BadRequest("after must be an offset"), wantStatus: 400, wantCode: CodeInvalid, wantMsg: "after must be an offset"},
		{name: "body too large", err: &http.MaxBytesError{Limit: 10}, wantStatus: 413, wantCode: CodeTooLarge, wantMsg: "request body larger than 10 bytes"},
		{name: "unauthorized", err: fmt.Errorf("%w: token expired", auth.ErrUnauthorized), wantStatus: 401, wantCode: CodeUnauth, wantMsg: "unauthorized: token expired"},
		{name: "forbidden", err: fmt.Errorf("%w: room", auth.ErrForbidden), wantStatus: 403, wantCode: CodeForbidden, wantMsg: "forbidden: room"},
		{name: "too large", err: fmt.Errorf("data: %w", broker.ErrTooLarge), wantStatus: 413, wantCode: CodeTooLarge, wantMsg: "data: too large"},
		{name: "validation", err: &broker.ValidationError{Field: "room", Reason: "empty"}, wantStatus: 400, wantCode: CodeInvalid, wantMsg: "invalid room: empty"},
		{name: "wrapped invalid", err: fmt.Errorf("after: %w", broker.ErrInvalid), wantStatus: 400, wantCode: CodeInvalid, wantMsg: "after: invalid argument"},
		{name: "closed", err: fmt.Errorf("subscribe: %w", broker.ErrClosed), wantStatus: 503, wantCode: CodeUnavailable, wantMsg: "server is shutting down, retry"},
		{name: "no quorum", err: fmt.Errorf("append: %w: %w", broker.ErrUnavailable, errors.New("nats: no responders available for request")), wantStatus: 503, wantCode: CodeUnavailable, wantMsg: "the cluster cannot commit events now (no quorum or no connection to NATS); retry with the same Idempotency-Key"},
		{name: "disk full", err: fmt.Errorf("append: %w: %w", broker.ErrInsufficientStorage, errors.New("write x: no space left on device")), wantStatus: 507, wantCode: CodeInsufficientStorage, wantMsg: "the server's storage is full or read-only: nothing was written, retry later"},
		{name: "damaged", err: fmt.Errorf("read: %w", &broker.CorruptionError{From: 5, To: 9, Detail: "page 7"}), wantStatus: 500, wantCode: CodeDataCorrupted, wantMsg: "stored data is damaged: the events from offset 5 to 9 could not be read"},
		{name: "canceled", err: fmt.Errorf("publish: %w", context.Canceled), wantStatus: StatusClientClosed, wantCode: CodeCanceled, wantMsg: "request canceled"},
		{name: "deadline", err: context.DeadlineExceeded, wantStatus: StatusClientClosed, wantCode: CodeCanceled, wantMsg: "request canceled"},
		{name: "unknown", err: errors.New("disk on fire at /var/secret"), wantStatus: 500, wantCode: CodeInternal, wantMsg: "internal error"},
		{name: "trimmed is not a client error", err: broker.ErrTrimmed, wantStatus: 500, wantCode: CodeInternal, wantMsg: "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, code, msg := Classify(tc.err)
			if status != tc.wantStatus || code != tc.wantCode || msg != tc.wantMsg {
				t.Errorf("Classify = %d %q %q, want %d %q %q", status, code, msg, tc.wantStatus, tc.wantCode, tc.wantMsg)
			}
			if e := NewErrorBody(tc.err); e.Code != tc.wantCode || e.Message != tc.wantMsg || e.Event != "" {
				t.Errorf("NewErrorBody = %+v", e)
			}
		})
	}
}

func TestBodyTimeoutIsTimeout(t *testing.T) {
	var te interface{ Timeout() bool }
	if !errors.As(fmt.Errorf("x: %w", ErrBodyTimeout), &te) || !te.Timeout() {
		t.Fatal("ErrBodyTimeout does not report Timeout()")
	}
}

// strange are strings that need escaping, as encoding/json escapes them.
var strange = []string{"", "lobby", `a"b\c`, "<script>&", "tab\tnl\ncr\r\x01\x1f", "héllo ☃ 😀", "bad\xffutf8", "line\u2028sep\u2029"}

func TestResetAppendJSON(t *testing.T) {
	var resets []Reset
	for _, s := range strange {
		resets = append(resets,
			Reset{Reason: ReasonTrimmed, Room: s, Requested: 7, Resume: 42, Epoch: s},
			Reset{Reason: s, Rooms: []string{s, "b"}, Requested: 1<<64 - 1, Epoch: "01J"},
		)
	}
	resets = append(resets,
		Reset{},
		Reset{Reason: ReasonAlreadyJoined, Requested: 3, Resume: 9},
		Reset{Reason: ReasonEpochMismatch, Rooms: []string{}, Requested: 3},
	)
	for _, r := range resets {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON([]byte("x")); string(got) != "x"+string(want) {
			t.Errorf("AppendJSON(%#v)\n got %s\nwant x%s", r, got, want)
		}
	}
}

func TestErrorBodyAppendJSON(t *testing.T) {
	for _, s := range strange {
		for _, e := range []ErrorBody{{Code: CodeForbidden, Message: s}, {Code: s, Event: s}, {Code: CodeInvalid, Message: "m", Event: "chat:message"}} {
			want, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.AppendJSON(nil); string(got) != string(want) {
				t.Errorf("AppendJSON(%#v)\n got %s\nwant %s", e, got, want)
			}
		}
	}
}

func TestNewReset(t *testing.T) {
	epoch := "01HZX"
	tests := []struct {
		name string
		re   *broker.ResetError
		want string
	}{
		{
			name: "trimmed room",
			re:   &broker.ResetError{Reason: broker.ErrTrimmed, Room: "lobby", Requested: broker.Position{Epoch: epoch, Offset: 3}, Resume: broker.Position{Epoch: epoch, Offset: 10}},
			want: `{"reason":"trimmed","room":"lobby","requested":3,"resume":10,"epoch":"01HZX"}`,
		},
		{
			name: "epoch mismatch",
			re:   &broker.ResetError{Reason: fmt.Errorf("from: %w", broker.ErrEpochMismatch), Requested: broker.Position{Epoch: "old", Offset: 99}, Resume: broker.Position{Epoch: epoch}},
			want: `{"reason":"epoch_mismatch","requested":99,"resume":0,"epoch":"01HZX"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReset(tc.re)
			if got := string(r.AppendJSON(nil)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestResetAppendJSONAllocs(t *testing.T) {
	r := Reset{Reason: ReasonTrimmed, Room: "lobby", Requested: 3, Resume: 10, Epoch: "01HZX"}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = r.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON allocates %v times", n)
	}
}

func BenchmarkResetAppendJSON(b *testing.B) {
	r := Reset{Reason: ReasonTrimmed, Room: "lobby", Requested: 3, Resume: 10, Epoch: "01HZX"}
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = r.AppendJSON(buf[:0])
	}
}
