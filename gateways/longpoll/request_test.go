package longpoll

import (
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

var testLimits = limits{maxRooms: 4, defaultTimeout: 25 * time.Second, maxTimeout: time.Minute, defaultLimit: 100, maxLimit: 1000}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  request
	}{
		{name: "defaults", query: "room=a",
			want: request{rooms: []string{"a"}, live: true, timeout: 25 * time.Second, limit: 100}},
		{name: "after and epoch", query: "room=a&after=5&epoch=E",
			want: request{rooms: []string{"a"}, from: broker.Position{Epoch: "E", Offset: 5}, timeout: 25 * time.Second, limit: 100}},
		{name: "duration", query: "room=a&timeout=500ms",
			want: request{rooms: []string{"a"}, live: true, timeout: 500 * time.Millisecond, limit: 100}},
		{name: "seconds", query: "room=a&timeout=2",
			want: request{rooms: []string{"a"}, live: true, timeout: 2 * time.Second, limit: 100}},
		{name: "fractional seconds", query: "room=a&timeout=.5",
			want: request{rooms: []string{"a"}, live: true, timeout: 500 * time.Millisecond, limit: 100}},
		{name: "timeout capped", query: "room=a&timeout=99999999999999999999",
			want: request{rooms: []string{"a"}, live: true, timeout: time.Minute, limit: 100}},
		{name: "limit", query: "room=a&limit=7",
			want: request{rooms: []string{"a"}, live: true, timeout: 25 * time.Second, limit: 7}},
		{name: "limit capped", query: "room=a&limit=99999999999999999999999",
			want: request{rooms: []string{"a"}, live: true, timeout: 25 * time.Second, limit: 1000}},
		{name: "rooms sorted and deduplicated", query: "room=b&room=a&room=b",
			want: request{rooms: []string{"a", "b"}, live: true, timeout: 25 * time.Second, limit: 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseRequest(v, testLimits)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.rooms, tc.want.rooms) || got.live != tc.want.live || got.from != tc.want.from ||
				got.timeout != tc.want.timeout || got.limit != tc.want.limit {
				t.Errorf("parseRequest = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add("room=a&after=1&timeout=25s&limit=10")
	f.Add("room=a&room=b&timeout=2.5&limit=1000000")
	f.Add("room=a&timeout=-1")
	f.Add("room=a&timeout=1e9&limit=+1")
	f.Add("room=a&after=18446744073709551616")
	f.Fuzz(func(t *testing.T, query string) {
		v, _ := url.ParseQuery(query)
		req, err := parseRequest(v, testLimits)
		if err != nil {
			if !errors.Is(err, broker.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if len(req.rooms) == 0 || len(req.rooms) > testLimits.maxRooms || !slices.IsSorted(req.rooms) {
			t.Fatalf("rooms = %q", req.rooms)
		}
		for _, r := range req.rooms {
			if broker.ValidateRoom(r) != nil {
				t.Fatalf("invalid room %q accepted", r)
			}
		}
		if req.timeout < 0 || req.timeout > testLimits.maxTimeout {
			t.Fatalf("timeout %v out of [0, %v]", req.timeout, testLimits.maxTimeout)
		}
		if req.limit < 1 || req.limit > testLimits.maxLimit {
			t.Fatalf("limit %d out of [1, %d]", req.limit, testLimits.maxLimit)
		}
		if req.live == v.Has("after") {
			t.Fatalf("live = %v with after %q", req.live, v["after"])
		}
	})
}
