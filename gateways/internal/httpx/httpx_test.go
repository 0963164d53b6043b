package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

func TestWriteErrorBody(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteErrorBody(rec, 400, wire.CodeInvalid, `bad "room" <x>`)
	if rec.Code != 400 || rec.Header().Get("Content-Type") != "application/json" ||
		rec.Body.String() != `{"error":{"code":"invalid_argument","message":"bad \"room\" \u003cx\u003e"}}`+"\n" {
		t.Fatalf("got %d %q %q", rec.Code, rec.Header(), rec.Body)
	}
}

func TestRooms(t *testing.T) {
	tests := []struct {
		query, want, err string
	}{
		{query: "room=b&room=a", want: "[a b]"},
		{query: "room=b&room=b", want: "[b]"},
		{query: "", err: "no room"},
		{query: "room=a&room=b&room=c", err: "more than 2"},
		{query: "room=a%20b", err: "not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			got, err := Rooms(q, 2)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, broker.ErrInvalid) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != tc.want {
				t.Fatalf("Rooms = %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestTracker(t *testing.T) {
	tr := NewTracker()
	if !tr.Begin() || tr.Active() != 1 {
		t.Fatal("Begin on an open tracker")
	}
	closed := make(chan struct{})
	go func() { tr.Close(); close(closed) }()
	<-tr.Closing()
	if tr.Begin() {
		t.Fatal("Begin after Close succeeded")
	}
	select {
	case <-closed:
		t.Fatal("Close returned with a request in flight")
	default:
	}
	tr.End()
	<-closed
	tr.Close() // twice is fine
}

func TestCredentialSource(t *testing.T) {
	tests := []struct {
		name     string
		header   http.Header
		query    string
		wantCred string
		wantSrc  Source
	}{
		{name: "none", header: http.Header{}, wantSrc: FromNone},
		{name: "bearer", header: http.Header{"Authorization": {"Bearer abc"}}, wantCred: "abc", wantSrc: FromHeader},
		{name: "x-api-key", header: http.Header{"X-Api-Key": {"k"}}, wantCred: "k", wantSrc: FromHeader},
		{name: "cookie", header: http.Header{"Cookie": {TokenCookie + "=c"}}, wantCred: "c", wantSrc: FromCookie},
		{name: "query", header: http.Header{}, query: "token=q", wantCred: "q", wantSrc: FromQuery},
		{name: "header wins over cookie and query", header: http.Header{"X-Api-Key": {"k"}, "Cookie": {TokenCookie + "=c"}}, query: "token=q", wantCred: "k", wantSrc: FromHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cred, src := Credential(tc.header, tc.query)
			if cred != tc.wantCred || src != tc.wantSrc {
				t.Fatalf("Credential = %q, %d; want %q, %d", cred, src, tc.wantCred, tc.wantSrc)
			}
		})
	}
}

// TestQueryValue: QueryValue answers what url.ParseQuery(raw).Get(key)
// does, escapes, repeated keys, empty and skipped pairs included.
func TestQueryValue(t *testing.T) {
	raws := []string{
		"", "&", "token", "token=", "token=a", "a=1&token=b&token=c", "token=a%20b", "token=a+b",
		"%74oken=x", "t%6Fken=y&token=z", "token=%zz&token=ok", "token=a;b&token=c", "x;y=1&token=d",
		"=v&token=e", "token=f&", "&&token=g", "tok%en=h&token=i", "token+=j", "token%3D=k",
		"EIO=4&transport=websocket&sid=abc-_", "transport=polling&t=Ov3e&EIO=4",
	}
	for _, raw := range raws {
		want, _ := url.ParseQuery(raw)
		for _, key := range []string{"token", "EIO", "transport", "sid", "token ", "token="} {
			if got := QueryValue(raw, key); got != want.Get(key) {
				t.Errorf("QueryValue(%q, %q) = %q, want %q", raw, key, got, want.Get(key))
			}
		}
	}
}

// TestDetach checks that middleware cleanups run when the request returns,
// unless the handler detached: then when it ends, whether that is before
// or after the middleware handed its cleanup over.
func TestDetach(t *testing.T) {
	for _, tc := range []struct {
		name      string
		detach    bool
		endBefore bool // the detached handler ends before the middleware's after
	}{
		{name: "not detached"},
		{name: "ends later", detach: true},
		{name: "ends before the middleware returns", detach: true, endBefore: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			var end func()
			handler := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				if tc.detach {
					end = Detach(r)
					if tc.endBefore {
						end()
						log = append(log, "ended")
					}
				}
			})
			mw := func(name string, next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					r, after := Detachable(r)
					defer after(func() { log = append(log, "release "+name) })
					next.ServeHTTP(w, r)
				})
			}
			mw("outer", mw("inner", handler)).ServeHTTP(nil, httptest.NewRequest(http.MethodGet, "/", nil))
			var want []string
			switch {
			case !tc.detach:
				want = []string{"release inner", "release outer"}
			case tc.endBefore:
				want = []string{"ended", "release inner", "release outer"}
			default:
				if len(log) != 0 {
					t.Fatalf("released %v before the detached handler ended", log)
				}
				end()
				end() // idempotent
				want = []string{"release inner", "release outer"}
			}
			if !slices.Equal(log, want) {
				t.Errorf("log = %v, want %v", log, want)
			}
		})
	}
}
