package broker_test

import (
	"testing"

	"github.com/rtbroker/rtbroker/broker"
)

// BenchmarkPublishEphemeral validates an ordinary event's data and hands
// it to a room without subscribers: the cost of the publish checks
// (checkMessage) without a commit.
func BenchmarkPublishEphemeral(b *testing.B) {
	br, _ := newBroker(b, broker.Config{})
	m := broker.Message{Room: "general", Type: "chat:message", From: "ada",
		Data: []byte(`{"text":"hello, world, this is a chat message of ordinary length","user":{"name":"ada","id":42}}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.PublishEphemeral(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHasBinary is what an ordinary event pays to be told it holds
// no bytes (Event.Binary), on chat-like data.
func BenchmarkHasBinary(b *testing.B) {
	data := []byte(`{"text":"hello, world, this is a chat message of ordinary length","user":{"name":"ada","id":42}}`)
	b.ReportAllocs()
	for b.Loop() {
		if broker.HasBinary(data) {
			b.Fatal("bytes found")
		}
	}
}
