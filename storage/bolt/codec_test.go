package bolt

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
)

func TestKeyCodec(t *testing.T) {
	tests := []struct {
		name string
		off  uint64
		key  []byte
	}{
		{"zero", 0, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{"one", 1, []byte{0, 0, 0, 0, 0, 0, 0, 1}},
		{"byte boundary", 256, []byte{0, 0, 0, 0, 0, 0, 1, 0}},
		{"max", math.MaxUint64, []byte{255, 255, 255, 255, 255, 255, 255, 255}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := encodeKey(tc.off); !bytes.Equal(got, tc.key) {
				t.Errorf("encodeKey(%d) = %x, want %x", tc.off, got, tc.key)
			}
			got, err := decodeKey(tc.key)
			if err != nil || got != tc.off {
				t.Errorf("decodeKey(%x) = %d, %v; want %d", tc.key, got, err, tc.off)
			}
		})
	}
	for _, bad := range [][]byte{nil, {}, {1}, make([]byte, 7), make([]byte, 9)} {
		if _, err := decodeKey(bad); !errors.Is(err, errCorrupt) {
			t.Errorf("decodeKey(%x) error = %v, want errCorrupt", bad, err)
		}
	}
	// Byte order is offset order: what Cursor.Seek relies on.
	for _, pair := range [][2]uint64{{1, 2}, {255, 256}, {1 << 32, 1<<32 + 1}, {0, math.MaxUint64}} {
		if bytes.Compare(encodeKey(pair[0]), encodeKey(pair[1])) >= 0 {
			t.Errorf("key of %d does not sort before key of %d", pair[0], pair[1])
		}
	}
}

func TestRecordCodec(t *testing.T) {
	id := ulid.MustParse("01J0000000000000000000000Z")
	tests := []struct {
		name string
		ev   *broker.Event
	}{
		{"typical", &broker.Event{ID: id, Room: "lobby", Type: "chat:message", Data: []byte(`{"text":"hi"}`), Time: time.Date(2025, 5, 1, 12, 0, 0, 123456789, time.UTC), From: "alice"}},
		{"empty fields", &broker.Event{Time: time.Unix(0, 0).UTC()}},
		{"negative time", &broker.Event{ID: id, Type: "t", Time: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)}},
		{"long fields", &broker.Event{ID: id, Room: strings.Repeat("r", 200), Type: strings.Repeat("t", 300), From: strings.Repeat("f", 70000), Data: bytes.Repeat([]byte("1"), 200000), Time: time.Unix(1, 2).UTC()}},
		{"binary data", &broker.Event{Room: "\x00\xff", Data: []byte{0, 1, 2, 0xff}, Time: time.Unix(5, 0).UTC()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := appendRecord(nil, tc.ev)
			if len(b) > recordSize(tc.ev) {
				t.Errorf("record of %d bytes, recordSize said %d", len(b), recordSize(tc.ev))
			}
			var got broker.Event
			if err := decodeRecord(b, &got); err != nil {
				t.Fatalf("decodeRecord: %v", err)
			}
			if d := recordDiff(&got, tc.ev); d != "" {
				t.Errorf("round trip: %s", d)
			}
			if rt, err := recordTime(b); err != nil || !rt.Equal(tc.ev.Time) {
				t.Errorf("recordTime = %v, %v; want %v", rt, err, tc.ev.Time)
			}
			if room, err := recordRoom(b); err != nil || string(room) != tc.ev.Room {
				t.Errorf("recordRoom = %q, %v; want %q", room, err, tc.ev.Room)
			}
			b[len(b)-1] ^= 0xff // decoded data must not alias the record
			if len(got.Data) > 0 && !bytes.Equal(got.Data, tc.ev.Data) {
				t.Error("decoded data aliases the record")
			}
		})
	}
	valid := appendRecord(nil, tests[0].ev)
	bad := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", valid[:20]},
		{"wrong version", append([]byte{9}, valid[1:]...)},
		{"truncated data", valid[:len(valid)-1]},
		{"trailing byte", append(append([]byte(nil), valid...), 0)},
		{"huge length", append(append([]byte(nil), valid[:25]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"padded varint", append(append([]byte(nil), valid[:25]...), 0x80, 0x00, 0, 0)},
		{"overlong varint", append(append([]byte(nil), valid[:25]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
	}
	for _, tc := range bad {
		t.Run("corrupt "+tc.name, func(t *testing.T) {
			if err := decodeRecord(tc.b, &broker.Event{}); !errors.Is(err, errCorrupt) {
				t.Errorf("decodeRecord error = %v, want errCorrupt", err)
			}
		})
	}
}

func TestTimeClamp(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), math.MinInt64},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt64},
		{time.Unix(0, 42), 42},
	} {
		if got := unixNano(tc.t); got != tc.want {
			t.Errorf("unixNano(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

func TestRoomMetaCodec(t *testing.T) {
	m := roomMeta{head: 10, first: 4, count: 3, trimmed: 2}
	got, err := decodeRoomMeta(m.encode())
	if err != nil || got != m {
		t.Errorf("round trip = %+v, %v; want %+v", got, err, m)
	}
	for _, b := range [][]byte{nil, m.encode()[1:], append([]byte{7}, m.encode()[1:]...)} {
		if _, err := decodeRoomMeta(b); !errors.Is(err, errCorrupt) {
			t.Errorf("decodeRoomMeta(%x) error = %v, want errCorrupt", b, err)
		}
	}
}

func TestIdemKeys(t *testing.T) {
	long := strings.Repeat("x", maxPlainKey+1)
	keys := map[string]bool{}
	for _, k := range [][]byte{
		idemKey("a", "k"), idemKey("b", "k"), idemKey("a", "K"), idemKey("ak", ""),
		idemKey("a", long), idemKey("a", long+"y"), idemKey("a", long[:maxPlainKey]),
	} {
		if keys[string(k)] {
			t.Errorf("idemKey collision: %x", k)
		}
		keys[string(k)] = true
	}
	if n := len(idemKey("a", strings.Repeat("x", 1<<20))); n > 64 {
		t.Errorf("key for a 1 MiB idempotency key is %d bytes", n)
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 5, time.UTC)
	ik := idemKey("room", "key")
	tk := appendTimeKey(nil, now, ik)
	gotT, gotK, err := decodeTimeKey(tk)
	if err != nil || !gotT.Equal(now) || !bytes.Equal(gotK, ik) {
		t.Errorf("decodeTimeKey = %v, %x, %v; want %v, %x", gotT, gotK, err, now, ik)
	}
	before, after := appendTimeKey(nil, time.Unix(-5, 0), ik), appendTimeKey(nil, time.Unix(5, 0), ik)
	if bytes.Compare(before, after) >= 0 {
		t.Error("time keys do not sort in time order across the epoch")
	}
}

// recordDiff compares the fields a record stores.
func recordDiff(got, want *broker.Event) string {
	switch {
	case got.Room != want.Room:
		return "Room " + got.Room + ", want " + want.Room
	case got.ID != want.ID:
		return "ID " + got.ID.String() + ", want " + want.ID.String()
	case got.Type != want.Type:
		return "Type " + got.Type + ", want " + want.Type
	case got.From != want.From:
		return "From " + got.From + ", want " + want.From
	case !bytes.Equal(got.Data, want.Data):
		return "Data " + string(got.Data) + ", want " + string(want.Data)
	case !got.Time.Equal(want.Time):
		return "Time " + got.Time.String() + ", want " + want.Time.String()
	}
	return ""
}

func FuzzKeyCodec(f *testing.F) {
	f.Add(uint64(0), []byte{})
	f.Add(uint64(1), []byte{0, 0, 0, 0, 0, 0, 0, 1})
	f.Add(uint64(math.MaxUint64), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, off uint64, raw []byte) {
		got, err := decodeKey(encodeKey(off))
		if err != nil || got != off {
			t.Fatalf("round trip of %d = %d, %v", off, got, err)
		}
		v, err := decodeKey(raw)
		if len(raw) != keyLen {
			if err == nil {
				t.Fatalf("decodeKey(%x) of wrong length succeeded", raw)
			}
			return
		}
		if err != nil || !bytes.Equal(encodeKey(v), raw) {
			t.Fatalf("decodeKey(%x) = %d, %v; does not re-encode", raw, v, err)
		}
	})
}

func FuzzRecordCodec(f *testing.F) {
	f.Add([]byte(nil), int64(0), []byte("0123456789abcdef"), "t", "f", []byte(`{}`))
	f.Add(appendRecord(nil, &broker.Event{Type: "x", Data: []byte("1")}), int64(-1), []byte{}, "", "", []byte(nil))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff}, int64(math.MaxInt64), []byte{1}, "é", "\x00", []byte{0})
	f.Fuzz(func(t *testing.T, raw []byte, ns int64, id []byte, typ, from string, data []byte) {
		room := from + "/" + typ
		// Arbitrary bytes: an error or a record that re-encodes to them.
		var ev broker.Event
		if err := decodeRecord(raw, &ev); err == nil {
			if again := appendRecord(nil, &ev); !bytes.Equal(again, raw) {
				t.Fatalf("decodeRecord(%x) re-encodes as %x", raw, again)
			}
		}
		_, _ = recordTime(raw)
		_, _, _ = decodeTimeKey(raw)
		_, _ = decodeRoomMeta(raw)
		_, _ = decodeIdemValue(raw)
		_, _ = recordRoom(raw)

		// Any event: encode then decode is the identity.
		want := broker.Event{Room: room, Type: typ, From: from, Data: data, Time: time.Unix(0, ns).UTC()}
		copy(want.ID[:], id)
		if len(want.Data) == 0 {
			want.Data = nil
		}
		var got broker.Event
		if err := decodeRecord(appendRecord(nil, &want), &got); err != nil {
			t.Fatalf("decode of encoded %q %q %q: %v", want.Type, want.From, want.Data, err)
		}
		if d := recordDiff(&got, &want); d != "" {
			t.Fatalf("round trip: %s", d)
		}
	})
}
