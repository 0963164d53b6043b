package sse

import (
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name        string
		query       string
		lastEventID string
		want        request
	}{
		{name: "live", query: "room=a", want: request{rooms: []string{"a"}, live: true}},
		{name: "after", query: "room=a&after=7", want: request{rooms: []string{"a"}, from: broker.Position{Offset: 7}}},
		{name: "after with epoch", query: "room=a&after=7&epoch=E1", want: request{rooms: []string{"a"}, from: broker.Position{Epoch: "E1", Offset: 7}}},
		{name: "epoch is not for Last-Event-ID", query: "room=a&after=7&epoch=OLD", lastEventID: "9", want: request{rooms: []string{"a"}, from: broker.Position{Offset: 9}}},
		{name: "epoch without position", query: "room=a&epoch=E1", want: request{rooms: []string{"a"}, live: true}},
		{name: "header wins", query: "room=a&after=7&lastEventId=8", lastEventID: "9", want: request{rooms: []string{"a"}, from: broker.Position{Offset: 9}}},
		{name: "lastEventId param", query: "room=a&after=7&lastEventId=8", want: request{rooms: []string{"a"}, from: broker.Position{Offset: 8}}},
		{name: "rooms sorted and deduplicated", query: "room=b&room=a&room=b", want: request{rooms: []string{"a", "b"}, live: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseRequest(v, tc.lastEventID, 32)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.rooms, tc.want.rooms) || got.live != tc.want.live || got.from != tc.want.from {
				t.Errorf("parseRequest = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add("room=a&after=1", "")
	f.Add("room=a&room=b&lastEventId=18446744073709551615", "")
	f.Add("room=a", "12")
	f.Add("room=a&epoch=x&after=0", "-1")
	f.Add("room=%ZZ", "")
	f.Fuzz(func(t *testing.T, query, lastEventID string) {
		v, _ := url.ParseQuery(query)
		req, err := parseRequest(v, lastEventID, 4)
		if err != nil {
			if !errors.Is(err, broker.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if len(req.rooms) == 0 || len(req.rooms) > 4 {
			t.Fatalf("rooms = %q", req.rooms)
		}
		for _, r := range req.rooms {
			if broker.ValidateRoom(r) != nil {
				t.Fatalf("invalid room %q accepted", r)
			}
		}
		if !slices.IsSorted(req.rooms) {
			t.Fatalf("rooms not sorted: %q", req.rooms)
		}
		if req.live && (lastEventID != "" || v.Has("after") || v.Get("lastEventId") != "") {
			t.Fatalf("live despite a position: %+v", req)
		}
	})
}
