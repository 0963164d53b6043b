package messages_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
	"github.com/rtbroker/rtbroker/gateways/messages"
)

// env is a Service on a broker on an in-memory log that can be reopened.
type env struct {
	store *brokertest.MemStore
	log   *brokertest.MemLog
	b     *broker.Broker
	svc   *messages.Service
}

func newEnv(t *testing.T, store *brokertest.MemStore) *env {
	t.Helper()
	if store == nil {
		store = brokertest.NewMemStore()
	}
	e := &env{store: store, log: store.Open()}
	e.b = broker.New(e.log, broker.Config{})
	e.svc = messages.New(e.b, messages.Config{ModeratorRole: "moderator"})
	t.Cleanup(e.close)
	return e
}

func (e *env) close() { e.b.Close(); e.log.Close() }

// reopen closes the broker and the log and opens them again on the same
// data, as a restart does.
func (e *env) reopen(t *testing.T) *env {
	e.close()
	return newEnv(t, e.store)
}

var (
	all       = new(auth.All())
	alice     = auth.Identity{Subject: "alice", Rooms: all}
	bob       = auth.Identity{Subject: "bob", Rooms: all}
	moderator = auth.Identity{Subject: "mia", Roles: []string{"moderator"}, Rooms: all}
	apiKey    = auth.Identity{Subject: auth.APISubject, APIKey: true, Rooms: all}
	anonymous = auth.Identity{Subject: "anonymous:1234", Anonymous: true, Rooms: all}
	// aliceReadOnly is alice with a token that no longer lets her publish.
	aliceReadOnly = auth.Identity{Subject: "alice", Rooms: &auth.Permissions{Subscribe: []string{"*"}, History: []string{"*"}}}
)

func (e *env) publish(t *testing.T, room string, from auth.Identity, text string) *broker.Event {
	t.Helper()
	ev, err := e.b.Publish(context.Background(), broker.Message{Room: room, Type: "chat:message", Data: json.RawMessage(`{"text":"` + text + `"}`), From: from.From()})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func ref(ev *broker.Event) messages.Ref { return messages.Ref{ID: ev.ID, Offset: ev.Offset} }

// code is the wire code of err ("" for nil).
func code(err error) string {
	if err == nil {
		return ""
	}
	_, c, _ := wire.Classify(err)
	return c
}

// texts returns the "text" of every message of room's whole folded view,
// read with pages of limit.
func (e *env) texts(t *testing.T, room string, limit int) []string {
	t.Helper()
	var out []string
	var after uint64
	for {
		p, err := e.svc.Page(context.Background(), room, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Messages) > limit {
			t.Fatalf("page of %d messages, limit %d", len(p.Messages), limit)
		}
		for _, m := range p.Messages {
			var d struct{ Text string }
			if err := json.Unmarshal(m.Event.Data, &d); err != nil {
				t.Fatal(err)
			}
			out = append(out, d.Text)
		}
		if p.Next <= after && len(p.Messages) == 0 {
			return out
		}
		after = p.Next
		if after >= e.b.Head().Offset {
			return out
		}
	}
}

func TestPermissions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		caller auth.Identity
		want   string // wire code; "" allowed
	}{
		{"author", alice, ""},
		{"another user", bob, wire.CodeForbidden},
		{"moderator role", moderator, ""},
		{"api key", apiKey, ""},
		{"anonymous", anonymous, wire.CodeForbidden},
		{"author without publish permission", aliceReadOnly, wire.CodeForbidden},
	} {
		for _, op := range []string{"edit", "delete"} {
			t.Run(tc.name+"/"+op, func(t *testing.T) {
				e := newEnv(t, nil)
				msg := e.publish(t, "lobby", alice, "hello")
				var ev *broker.Event
				var err error
				if op == "edit" {
					ev, err = e.svc.Edit(context.Background(), tc.caller, "lobby", ref(msg), []byte(`{"text":"changed"}`))
				} else {
					ev, err = e.svc.Delete(context.Background(), tc.caller, "lobby", ref(msg))
				}
				if code(err) != tc.want {
					t.Fatalf("error %v (code %q), want code %q", err, code(err), tc.want)
				}
				want := []string{"hello"}
				if tc.want == "" {
					if ev.From != tc.caller.From() || ev.Type != "message:"+op {
						t.Fatalf("change event %s", ev.JSON())
					}
					want = map[string][]string{"edit": {"changed"}, "delete": nil}[op]
				}
				if got := e.texts(t, "lobby", 10); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("folded view %q, want %q", got, want)
				}
			})
		}
	}
}

func TestRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	msg := e.publish(t, "lobby", alice, "hello")
	other := e.publish(t, "other", alice, "elsewhere")
	edit, err := e.svc.Edit(ctx, alice, "lobby", ref(msg), []byte(`{"text":"v2"}`))
	if err != nil {
		t.Fatal(err)
	}
	gone := e.publish(t, "lobby", alice, "to delete")
	if _, err := e.svc.Delete(ctx, alice, "lobby", ref(gone)); err != nil {
		t.Fatal(err)
	}
	unknown := ref(msg)
	unknown.ID[15]++
	for _, tc := range []struct {
		name string
		ref  messages.Ref
		data string // "" delete, else edit
		want string
	}{
		{"unknown id", unknown, `{"text":"x"}`, wire.CodeNotFound},
		{"offset beyond the head", messages.Ref{ID: msg.ID, Offset: 1000}, `{"text":"x"}`, wire.CodeNotFound},
		{"id of another room", ref(other), `{"text":"x"}`, wire.CodeNotFound},
		{"missing data", ref(msg), "-", wire.CodeInvalid},
		{"null data", ref(msg), "null", wire.CodeInvalid},
		{"data not JSON", ref(msg), "{text", wire.CodeInvalid},
		{"edit of an edit", ref(edit), `{"text":"x"}`, wire.CodeInvalid},
		{"delete of an edit", ref(edit), "", wire.CodeInvalid},
		{"edit of a deleted message", ref(gone), `{"text":"back"}`, wire.CodeNotFound},
		{"delete of a deleted message", ref(gone), "", wire.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := e.b.Head().Offset
			var err error
			switch tc.data {
			case "":
				_, err = e.svc.Delete(ctx, alice, "lobby", tc.ref)
			case "-":
				_, err = e.svc.Edit(ctx, alice, "lobby", tc.ref, nil)
			default:
				_, err = e.svc.Edit(ctx, alice, "lobby", tc.ref, []byte(tc.data))
			}
			if code(err) != tc.want {
				t.Fatalf("error %v (code %q), want %q", err, code(err), tc.want)
			}
			if h := e.b.Head().Offset; h != head {
				t.Fatalf("a refused change was logged: head %d -> %d", head, h)
			}
		})
	}
	if got := e.texts(t, "lobby", 10); fmt.Sprint(got) != "[v2]" {
		t.Fatalf("folded view %q after refused changes", got)
	}
}

func TestFoldedView(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	var msgs []*broker.Event
	for i := range 6 {
		msgs = append(msgs, e.publish(t, "lobby", alice, fmt.Sprintf("m%d", i)))
		e.publish(t, "noise", bob, "unrelated") // other rooms' offsets in between
	}
	must := func(_ *broker.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.svc.Edit(ctx, alice, "lobby", ref(msgs[1]), []byte(`{"text":"m1 v2"}`)))
	must(e.svc.Edit(ctx, moderator, "lobby", ref(msgs[1]), []byte(`{"text":"m1 v3"}`)))
	must(e.svc.Delete(ctx, alice, "lobby", ref(msgs[2])))
	must(e.svc.Edit(ctx, alice, "lobby", ref(msgs[4]), []byte(`{"text":"m4 v2"}`)))
	must(e.svc.Delete(ctx, moderator, "lobby", ref(msgs[5])))
	want := "[m0 m1 v3 m3 m4 v2]"
	for _, limit := range []int{1, 2, 3, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			if got := e.texts(t, "lobby", limit); fmt.Sprint(got) != want {
				t.Fatalf("folded view %q, want %q", got, want)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		p, err := e.svc.Page(ctx, "lobby", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		js := string(messages.AppendMessages(nil, p.Messages))
		for _, deleted := range []string{`"m2"`, `"m5"`, `"m1"`, `"m1 v2"`} {
			if strings.Contains(js, deleted) {
				t.Fatalf("folded view holds %s: %s", deleted, js)
			}
		}
		var got []map[string]any
		if err := json.Unmarshal([]byte(js), &got); err != nil {
			t.Fatalf("%v: %s", err, js)
		}
		m1 := got[1]
		if m1["offset"] != float64(msgs[1].Offset) || m1["id"] != msgs[1].ID.String() || m1["from"] != "alice" {
			t.Fatalf("edited message %v does not keep the original's offset, id and from", m1)
		}
		if ed, _ := m1["edited"].(map[string]any); ed == nil || ed["from"] != "mia" {
			t.Fatalf("edited message %v: edited should name the latest edit (by mia)", m1)
		}
		if _, ok := got[0]["edited"]; ok {
			t.Fatalf("unedited message %v carries edited", got[0])
		}
	})
	outer := t // the reopened env outlives this subtest
	t.Run("after a restart", func(t *testing.T) {
		e2 := e.reopen(outer)
		if got := e2.texts(t, "lobby", 2); fmt.Sprint(got) != want {
			t.Fatalf("folded view after reopening %q, want %q", got, want)
		}
		if _, err := e2.svc.Edit(ctx, alice, "lobby", ref(msgs[2]), []byte(`{"text":"back"}`)); code(err) != wire.CodeNotFound {
			t.Fatalf("edit of a deleted message after a restart: %v", err)
		}
		e = e2
	})
	t.Run("rebuild", func(t *testing.T) {
		// Drop the projection, then rebuild it from the log.
		var drop []broker.Record
		if err := e.b.ScanState(ctx, "msg", func(r broker.Record) bool {
			drop = append(drop, broker.Record{Key: r.Key})
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if err := e.b.PutState(ctx, drop...); err != nil {
			t.Fatal(err)
		}
		if got := e.texts(t, "lobby", 10); fmt.Sprint(got) == want {
			t.Fatal("the view does not read the projection")
		}
		if built, err := e.svc.Built(ctx); err != nil || built {
			t.Fatalf("Built = %v, %v after dropping the projection", built, err)
		}
		n, err := e.svc.EnsureBuilt(ctx, false)
		if err != nil || n != 4 {
			t.Fatalf("EnsureBuilt = %d, %v; want 4 records", n, err)
		}
		if got := e.texts(t, "lobby", 10); fmt.Sprint(got) != want {
			t.Fatalf("rebuilt view %q, want %q", got, want)
		}
		if n, err := e.svc.EnsureBuilt(ctx, false); err != nil || n != 0 {
			t.Fatalf("EnsureBuilt on a built projection = %d, %v", n, err)
		}
	})
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	m0 := e.publish(t, "lobby", alice, "m0")
	m1 := e.publish(t, "lobby", alice, "m1")
	if _, err := e.svc.Edit(ctx, alice, "lobby", ref(m0), []byte(`{"text":"m0 v2"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Delete(ctx, alice, "lobby", ref(m1)); err != nil {
		t.Fatal(err)
	}
	m4 := e.publish(t, "lobby", alice, "m4")
	if _, err := e.svc.Edit(ctx, alice, "lobby", ref(m4), []byte(`{"text":"m4 v2"}`)); err != nil {
		t.Fatal(err)
	}
	// lobby: m0 m1 edit(m0) delete(m1) m4 edit(m4)
	for _, tc := range []struct {
		name     string
		keep     int
		want     string
		edit     *broker.Event // refused with not_found
		rebuilds int
	}{
		{"original trimmed, its edit kept", 4, "[m4 v2]", m0, 1},
		{"original and edit trimmed", 2, "[m4 v2]", m0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.b.Trim(ctx, broker.Retention{MaxCount: tc.keep}); err != nil {
				t.Fatal(err)
			}
			if got := e.texts(t, "lobby", 10); fmt.Sprint(got) != tc.want {
				t.Fatalf("folded view %q, want %q", got, tc.want)
			}
			p, err := e.svc.Page(ctx, "lobby", 0, 10)
			if err != nil || p.Trimmed == 0 {
				t.Fatalf("page from 0 after a trim: Trimmed %d, %v", p.Trimmed, err)
			}
			if _, err := e.svc.Edit(ctx, alice, "lobby", ref(tc.edit), []byte(`{"text":"late"}`)); code(err) != wire.CodeNotFound {
				t.Fatalf("edit of a trimmed message: %v, want not_found", err)
			}
			n, err := e.svc.Rebuild(ctx)
			if err != nil || n != tc.rebuilds {
				t.Fatalf("Rebuild = %d, %v; want %d records (trimmed messages' records dropped)", n, err, tc.rebuilds)
			}
			if got := e.texts(t, "lobby", 10); fmt.Sprint(got) != tc.want {
				t.Fatalf("folded view after rebuild %q, want %q", got, tc.want)
			}
		})
	}
}

// Concurrent edits of one message: the folded view shows the edit with the
// highest offset, whatever order they were made in.
func TestRacingEdits(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	msg := e.publish(t, "lobby", alice, "v0")
	const n = 16
	evs := make([]*broker.Event, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			caller := alice
			if i%2 == 1 {
				caller = moderator
			}
			evs[i], errs[i] = e.svc.Edit(ctx, caller, "lobby", ref(msg), fmt.Appendf(nil, `{"text":"v%d"}`, i+1))
		})
	}
	wg.Wait()
	var last *broker.Event
	for i, ev := range evs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if last == nil || ev.Offset > last.Offset {
			last = ev
		}
	}
	var d struct{ Data struct{ Text string } }
	if err := json.Unmarshal(last.Data, &d); err != nil {
		t.Fatal(err)
	}
	if got := e.texts(t, "lobby", 10); fmt.Sprint(got) != "["+d.Data.Text+"]" {
		t.Fatalf("folded view %q, want the edit with the highest offset (%d): %q", got, last.Offset, d.Data.Text)
	}
}

func TestCheckPublishType(t *testing.T) {
	for _, tc := range []struct {
		typ    string
		refuse bool
	}{
		{"message:edit", true},
		{"message:delete", true},
		{"chat:message", false},
		{"message:edited", false},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			err := messages.CheckPublishType(tc.typ)
			if (err != nil) != tc.refuse {
				t.Fatalf("CheckPublishType(%q) = %v", tc.typ, err)
			}
			if err != nil && code(err) != wire.CodeInvalid {
				t.Fatalf("code %q", code(err))
			}
		})
	}
}

func TestParseRef(t *testing.T) {
	id := "01KBX5Z8Q3Y9W7V6T5S4R3Q2P1"
	for _, tc := range []struct {
		name, id, offset string
		ok               bool
	}{
		{"good", id, "12", true},
		{"lower case id", strings.ToLower(id), "12", true},
		{"short id", id[:25], "12", false},
		{"id not base32", id[:25] + "!", "12", false},
		{"offset 0", id, "0", false},
		{"offset missing", id, "", false},
		{"offset negative", id, "-1", false},
		{"offset not a number", id, "x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := messages.ParseRef(tc.id, tc.offset)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseRef(%q, %q) = %v, %v", tc.id, tc.offset, r, err)
			}
			if err != nil && code(err) != wire.CodeInvalid {
				t.Fatalf("code %q", code(err))
			}
		})
	}
}

// A delete racing edits of the same message: the delete is final, so no
// edit commits after it and the message stays out of the view.
func TestRacingDeleteAndEdits(t *testing.T) {
	ctx := context.Background()
	for round := range 20 {
		e := newEnv(t, nil)
		msg := e.publish(t, "lobby", alice, "v0")
		const n = 8
		evs := make([]*broker.Event, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if i == n/2 {
					evs[i], errs[i] = e.svc.Delete(ctx, moderator, "lobby", ref(msg))
					return
				}
				evs[i], errs[i] = e.svc.Edit(ctx, alice, "lobby", ref(msg), fmt.Appendf(nil, `{"text":"v%d"}`, i+1))
			})
		}
		wg.Wait()
		del := evs[n/2]
		if errs[n/2] != nil {
			t.Fatal(errs[n/2])
		}
		for i, ev := range evs {
			if i != n/2 && errs[i] == nil && ev.Offset > del.Offset {
				t.Fatalf("round %d: edit at offset %d committed after the delete at %d", round, ev.Offset, del.Offset)
			}
			if i != n/2 && errs[i] != nil && code(errs[i]) != wire.CodeNotFound {
				t.Fatalf("round %d: edit refused with %v, want not_found", round, errs[i])
			}
		}
		if got := e.texts(t, "lobby", 10); len(got) != 0 {
			t.Fatalf("round %d: deleted message in the view: %q", round, got)
		}
	}
}
