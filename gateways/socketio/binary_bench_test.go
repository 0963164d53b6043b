package socketio

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/rtbroker/rtbroker/broker"
)

// benchEvent is a committed event with data like a chat message's.
func benchEvent(data string) *broker.Event {
	return &broker.Event{
		Offset: 1234, ID: ulid.Make(), Room: "general", Type: "chat:message",
		Data: json.RawMessage(data), Time: time.Now(), From: "ada",
	}
}

// BenchmarkNamespaceEncode is the live encoding of an ordinary event:
// what every committed event costs once per namespace.
func BenchmarkNamespaceEncode(b *testing.B) {
	ns := &gwNamespace{name: "/"}
	ev := benchEvent(`{"text":"hello, world, this is a chat message of ordinary length","user":{"name":"ada","id":42}}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = ns.encode(ev, token{offset: ev.Offset})
	}
}

// BenchmarkNamespaceEncodeBinary is the live encoding of an event with a
// 4 KiB attachment: a multi-frame packet, in one allocation.
func BenchmarkNamespaceEncodeBinary(b *testing.B) {
	ns := &gwNamespace{name: "/"}
	ev := benchEvent(`{"name":"a.bin","chunk":{"$binary":"` + base64.StdEncoding.EncodeToString(make([]byte, 4096)) + `"}}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = ns.encode(ev, token{offset: ev.Offset})
	}
}
