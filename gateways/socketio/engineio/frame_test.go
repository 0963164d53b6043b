package engineio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// clientFrame encodes a frame as a client sends it: masked with key
// (unless unmasked), FIN when fin, rsv in bits 4–6 of the first byte.
func clientFrame(fin bool, op byte, payload []byte, key uint32, unmasked bool, rsv byte) []byte {
	b0 := op | rsv<<4
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	maskBit := byte(0x80)
	if unmasked {
		maskBit = 0
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, maskBit|byte(n))
	case n <= 0xffff:
		out = append(out, maskBit|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, maskBit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if unmasked {
		return append(out, payload...)
	}
	out = binary.LittleEndian.AppendUint32(out, key)
	for i, c := range payload {
		out = append(out, c^byte(key>>(8*(i&3))))
	}
	return out
}

func frameOf(fin bool, op byte, payload string) []byte {
	return clientFrame(fin, op, []byte(payload), 0x5a3c9e17, false, 0)
}

// collect feeds stream to a frameReader chunk bytes at a time, the way the
// engine's readers do (a buffer that keeps the unconsumed bytes), and
// returns the events (their data copied) and the first error.
func collect(stream []byte, chunk int, max int64) ([]wsEvent, error) {
	var r frameReader
	var out []wsEvent
	var buf []byte
	for len(stream) > 0 || len(buf) > 0 {
		k := min(chunk, len(stream))
		buf = append(buf, stream[:k]...)
		stream = stream[k:]
		for {
			ev, n, err := r.next(buf, max)
			buf = buf[n:]
			if err != nil {
				return out, err
			}
			if ev.op == 0 {
				break
			}
			out = append(out, wsEvent{op: ev.op, data: bytes.Clone(ev.data)})
		}
		if k == 0 {
			break // no more input and no complete event: a truncated frame
		}
	}
	return out, nil
}

func TestFrameReader(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 70000) // a 64-bit length
	mid := bytes.Repeat([]byte("y"), 300)   // a 16-bit length
	cat := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	ev := func(op byte, s string) wsEvent { return wsEvent{op: op, data: []byte(s)} }
	for _, tc := range []struct {
		name     string
		stream   []byte
		max      int64
		want     []wsEvent
		wantCode uint16 // 0: no error
	}{
		{name: "masked text", stream: frameOf(true, opText, "4hello"), want: []wsEvent{ev(opText, "4hello")}},
		{name: "masked binary", stream: clientFrame(true, opBinary, []byte{0, 1, 2, 255}, 7, false, 0), want: []wsEvent{{op: opBinary, data: []byte{0, 1, 2, 255}}}},
		{name: "empty text", stream: frameOf(true, opText, ""), want: []wsEvent{ev(opText, "")}},
		{name: "16-bit length", stream: clientFrame(true, opText, mid, 1, false, 0), want: []wsEvent{{op: opText, data: mid}}},
		{name: "64-bit length", stream: clientFrame(true, opBinary, big, 2, false, 0), want: []wsEvent{{op: opBinary, data: big}}},
		{name: "several messages", stream: cat(frameOf(true, opText, "3"), frameOf(true, opText, "4a"), frameOf(true, opBinary, "b")),
			want: []wsEvent{ev(opText, "3"), ev(opText, "4a"), ev(opBinary, "b")}},
		{name: "fragmented", stream: cat(frameOf(false, opText, "4he"), frameOf(false, opContinuation, "ll"), frameOf(true, opContinuation, "o")),
			want: []wsEvent{ev(opText, "4hello")}},
		{name: "fragmented with control frames between", stream: cat(frameOf(false, opBinary, "ab"), frameOf(true, opPing, "p"), frameOf(true, opPong, ""), frameOf(true, opContinuation, "cd")),
			want: []wsEvent{ev(opPing, "p"), ev(opPong, ""), ev(opBinary, "abcd")}},
		{name: "ping pong close", stream: cat(frameOf(true, opPing, "hi"), frameOf(true, opPong, "ho"), frameOf(true, opClose, "\x03\xe8bye")),
			want: []wsEvent{ev(opPing, "hi"), ev(opPong, "ho"), ev(opClose, "\x03\xe8bye")}},
		{name: "exactly max", stream: frameOf(true, opText, "12345"), max: 5, want: []wsEvent{ev(opText, "12345")}},
		{name: "oversized", stream: frameOf(true, opText, "123456"), max: 5, wantCode: closeTooBig},
		{name: "oversized by its header", stream: clientFrame(true, opBinary, big, 3, false, 0)[:20], max: 1000, wantCode: closeTooBig},
		{name: "oversized when fragmented", stream: cat(frameOf(false, opText, "123"), frameOf(true, opContinuation, "456")), max: 5, wantCode: closeTooBig},
		{name: "bad opcode", stream: frameOf(true, 3, "x"), wantCode: closeProtocol},
		{name: "bad control opcode", stream: frameOf(true, 11, "x"), wantCode: closeProtocol},
		{name: "unmasked", stream: clientFrame(true, opText, []byte("4x"), 0, true, 0), wantCode: closeProtocol},
		{name: "reserved bit", stream: clientFrame(true, opText, []byte("4x"), 9, false, 4), wantCode: closeProtocol},
		{name: "fragmented control frame", stream: frameOf(false, opPing, "x"), wantCode: closeProtocol},
		{name: "control frame too long", stream: clientFrame(true, opPing, mid, 4, false, 0), wantCode: closeProtocol},
		{name: "continuation without a message", stream: frameOf(true, opContinuation, "x"), wantCode: closeProtocol},
		{name: "new message inside a fragmented one", stream: cat(frameOf(false, opText, "4a"), frameOf(true, opText, "4b")), wantCode: closeProtocol},
		{name: "64-bit length with the top bit", stream: []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, wantCode: closeProtocol},
		{name: "events before an error", stream: cat(frameOf(true, opText, "3"), frameOf(true, 5, "")), want: []wsEvent{ev(opText, "3")}, wantCode: closeProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.max
			if max == 0 {
				max = 1 << 20
			}
			for _, chunk := range []int{len(tc.stream) + 1, 1, 2, 3, 7, 1000} {
				got, err := collect(tc.stream, chunk, max)
				var fe *frameError
				switch {
				case tc.wantCode == 0 && err != nil:
					t.Fatalf("chunk %d: %v", chunk, err)
				case tc.wantCode != 0 && (!errors.As(err, &fe) || fe.code != tc.wantCode):
					t.Fatalf("chunk %d: err %v, want close code %d", chunk, err, tc.wantCode)
				}
				if !eventsEqual(got, tc.want) {
					t.Fatalf("chunk %d: events %s, want %s", chunk, showEvents(got), showEvents(tc.want))
				}
			}
		})
	}
}

func eventsEqual(a, b []wsEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].op != b[i].op || !bytes.Equal(a[i].data, b[i].data) {
			return false
		}
	}
	return true
}

func showEvents(evs []wsEvent) string {
	var b bytes.Buffer
	for _, ev := range evs {
		fmt.Fprintf(&b, "[op %d %.20q (%d bytes)]", ev.op, ev.data, len(ev.data))
	}
	return b.String()
}

// TestFrameReaderRoundTrip encodes random messages as random fragments
// with random control frames between them, and reads them back.
func TestFrameReaderRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var stream []byte
		var want []wsEvent
		for range 1 + rng.IntN(5) {
			data := make([]byte, rng.IntN(3000))
			for i := range data {
				data[i] = byte(rng.IntN(256))
			}
			op := byte(opText + rng.IntN(2))
			want = append(want, wsEvent{op: op, data: data})
			for rest, first := data, true; ; first = false {
				k := min(len(rest), rng.IntN(1200))
				fin := k == len(rest)
				fop := byte(opContinuation)
				if first {
					fop = op
				}
				stream = append(stream, clientFrame(fin, fop, rest[:k], rng.Uint32(), false, 0)...)
				rest = rest[k:]
				if fin {
					break
				}
				if rng.IntN(3) == 0 {
					stream = append(stream, frameOf(true, opPong, "")...)
					want = append(want[:len(want)-1], wsEvent{op: opPong, data: []byte{}}, want[len(want)-1])
				}
			}
		}
		got, err := collect(stream, 1+rng.IntN(4000), 1<<20)
		if err != nil || !eventsEqual(got, want) {
			t.Fatalf("got %s (%v), want %s", showEvents(got), err, showEvents(want))
		}
	}
}

// FuzzFrameReader feeds arbitrary bytes: the reader never panics, never
// returns data over the limit, and reads the same events and error
// whatever the chunks the bytes arrive in.
func FuzzFrameReader(f *testing.F) {
	f.Add(frameOf(true, opText, "4hello"), uint8(3))
	f.Add(bytes.Join([][]byte{frameOf(false, opText, "4he"), frameOf(true, opPing, "x"), frameOf(true, opContinuation, "llo")}, nil), uint8(1))
	f.Add(clientFrame(true, opBinary, bytes.Repeat([]byte("z"), 300), 5, false, 0), uint8(17))
	f.Add([]byte{0x81, 0xff, 0, 0, 0, 0, 0, 0, 1, 0}, uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		const max = 1 << 10
		whole, errWhole := collect(bytes.Clone(stream), len(stream)+1, max)
		parts, errParts := collect(bytes.Clone(stream), int(chunk)+1, max)
		if (errWhole == nil) != (errParts == nil) || !eventsEqual(whole, parts) {
			t.Fatalf("whole: %s %v; in chunks of %d: %s %v", showEvents(whole), errWhole, int(chunk)+1, showEvents(parts), errParts)
		}
		for _, ev := range whole {
			if len(ev.data) > max {
				t.Fatalf("event of %d bytes over the limit", len(ev.data))
			}
		}
		var fe *frameError
		if errWhole != nil && !errors.As(errWhole, &fe) {
			t.Fatalf("error %v is not a frameError", errWhole)
		}
	})
}
