package jetstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

// Example opens the log and the state store on an embedded JetStream
// server, appends to a room whose name holds a dot, reads it back, and
// keeps a record with an expiry.
func Example() {
	dir, _ := os.MkdirTemp("", "rtbroker-js")
	defer os.RemoveAll(dir)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv.Start()
	defer srv.Shutdown()
	srv.ReadyForConnections(10 * time.Second)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	ctx := context.Background()

	log, err := jetstream.Open(ctx, nc, jetstream.Config{Replicas: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer log.Close()
	e := broker.Entry{ID: ulid.Make(), Room: "chat.lobby", Type: "chat:message", Data: json.RawMessage(`{"text":"hi"}`), Time: time.Now(), IdempotencyKey: "k1"}
	first, _ := log.Append(ctx, []broker.Entry{e})
	e.ID = ulid.Make() // a retry of the same publish
	again, _ := log.Append(ctx, []broker.Entry{e})
	res, _ := log.Read(ctx, []string{"chat.lobby"}, 0, 10)
	fmt.Println("subject:", jetstream.DefaultSubject+"."+jetstream.RoomToken("chat.lobby"))
	fmt.Println("offsets:", first[0].Offset, again[0].Offset, "events:", len(res.Events), "through:", res.Through)

	state, err := jetstream.OpenState(ctx, nc, jetstream.StateConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer state.Close()
	_ = state.Put(ctx, []broker.Record{{Key: "sio/session:abc", Value: []byte("x"), Expires: time.Now().Add(time.Minute)}})
	r, err := state.Get(ctx, "sio/session:abc")
	fmt.Println("record:", string(r.Value), err)
	// Output:
	// subject: rtb.ev.chat=2Elobby
	// offsets: 1 1 events: 1 through: 1
	// record: x <nil>
}
