package broker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

func TestPublishWith(t *testing.T) {
	ctx := context.Background()
	l := brokertest.NewMemLog()
	b := broker.New(l, broker.Config{})
	t.Cleanup(func() { b.Close(); l.Close() })
	msg := broker.Message{Room: "r", Type: "t", Data: []byte(`{"a": 1}`), From: "u"}
	for _, tc := range []struct {
		name    string
		msg     broker.Message
		recs    func(broker.Entry) []broker.Record
		wantErr error
		wantRec string // value of key "k" afterwards ("" none)
	}{
		{"no records", msg, nil, nil, ""},
		{"records from the entry", msg, func(e broker.Entry) []broker.Record {
			return []broker.Record{{Key: "k", Value: append([]byte(e.ID.String()+" "), e.Data...)}}
		}, nil, "id"},
		{"bad record", msg, func(broker.Entry) []broker.Record { return []broker.Record{{Key: "bad key"}} }, broker.ErrInvalid, ""},
		{"idempotency key", broker.Message{Room: "r", Type: "t", Data: []byte(`1`), IdempotencyKey: "x"}, nil, broker.ErrInvalid, ""},
		{"bad message", broker.Message{Room: "r", Type: "", Data: []byte(`1`)}, nil, broker.ErrInvalid, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := b.PutState(ctx, broker.Record{Key: "k"}); err != nil {
				t.Fatal(err)
			}
			head := b.Head().Offset
			ev, err := b.PublishWith(ctx, tc.msg, tc.recs)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("PublishWith: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if b.Head().Offset != head {
					t.Fatal("a refused publish was logged")
				}
				return
			}
			if ev.Offset != head+1 || string(ev.Data) != `{"a":1}` {
				t.Fatalf("event %s", ev.JSON())
			}
			rec, err := b.GetState(ctx, "k")
			switch {
			case tc.wantRec == "" && !errors.Is(err, broker.ErrNotFound):
				t.Fatalf("record %q, %v; want none", rec.Value, err)
			case tc.wantRec != "" && (err != nil || string(rec.Value) != ev.ID.String()+` {"a":1}`):
				t.Fatalf("record %q, %v; want the event's id and compact data", rec.Value, err)
			}
		})
	}
}
