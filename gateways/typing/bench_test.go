package typing_test

import (
	"strconv"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/typing"
)

// BenchmarkTrackerStart: a typing:start of a typist already typing (the
// common case: a start every few seconds while the user types), among
// 10,000 typists.
func BenchmarkTrackerStart(b *testing.B) {
	br := broker.New(brokertest.NewMemLog(), broker.Config{})
	defer br.Close()
	tr := typing.New(br, typing.Config{})
	defer tr.Close()
	const typists = 10_000
	froms := make([]string, typists)
	for i := range froms {
		froms[i] = "user" + strconv.Itoa(i)
		if err := tr.Start("room", froms[i], nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := tr.Start("room", froms[i%typists], nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
