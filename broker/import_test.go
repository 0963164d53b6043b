package broker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

// TestImportUnsupported: a Log that cannot write given offsets refuses
// an import with errors.ErrUnsupported and writes nothing (the bbolt log
// imports: storage/bolt's TestBrokerImport).
func TestImportUnsupported(t *testing.T) {
	b, l := brokertest.NewBroker(t, broker.Config{})
	err := b.Import(context.Background(), []*broker.Event{{Offset: 1, ID: ulid.Make(), Room: "a", Type: "t", Data: []byte("1")}})
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("import into a MemLog: %v, want ErrUnsupported", err)
	}
	if l.Head() != 0 {
		t.Fatalf("head %d after a refused import", l.Head())
	}
}
