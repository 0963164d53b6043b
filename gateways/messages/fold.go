package messages

import (
	"context"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// Message is one message of the folded view: a logged event of the room
// that is not a change, with the data of its latest edit.
type Message struct {
	// Event is the message as the view shows it: the original event's
	// offset, id, type, time and from, and the data of its latest edit
	// (the original's when never edited). It is a copy when edited, else
	// the log's event; either way it must not be modified.
	Event *broker.Event
	// Edit describes the latest edit, nil when never edited.
	Edit *Edit
}

// Edit is the latest edit of a message, as the folded view shows it.
type Edit struct {
	ID   string    // the edit event's id
	Time time.Time // the edit event's time
	From string    // who edited
}

// Page is one page of a room's folded view.
type Page struct {
	// Messages are the room's current messages with offsets in
	// (after, Next], oldest first: edits applied, deleted messages and
	// the change events themselves left out.
	Messages []Message
	// Next is the `after` of the following page: the offset the view is
	// complete up to. A page may hold fewer messages than its limit (and
	// even none) before Next reaches Head; a client reads on until then.
	Next uint64
	// Trimmed is the room's trim watermark when retention removed events
	// after `after` (the page then starts at the earliest retained one), 0
	// otherwise. History reports it the same way.
	Trimmed uint64
}

// Page returns up to limit messages of room's folded view after the
// offset after. It reads the log from after, a page at a time, and looks
// up the change record of each message (one State read per message, no
// re-reading of the room), skipping change events and deleted messages,
// until it has limit messages, reaches the head, or has read
// Config.MaxScan events. Errors are the broker's (invalid room, closed)
// and ctx's.
func (s *Service) Page(ctx context.Context, room string, after uint64, limit int) (Page, error) {
	if err := broker.ValidatePublicRoom(room); err != nil {
		return Page{}, err
	}
	p := Page{Next: after}
	scanned := 0
	for len(p.Messages) < limit && scanned < s.cfg.MaxScan {
		want := min(limit-len(p.Messages), s.cfg.MaxScan-scanned)
		res, err := s.b.History(ctx, room, p.Next, want)
		if err != nil {
			return Page{}, err
		}
		if res.Trimmed > 0 && p.Trimmed == 0 && scanned == 0 {
			p.Trimmed = res.Trimmed
		}
		for _, ev := range res.Events {
			scanned++
			p.Next = ev.Offset
			m, ok, err := s.fold(ctx, room, ev)
			if err != nil {
				return Page{}, err
			}
			if ok {
				p.Messages = append(p.Messages, m)
			}
		}
		if len(res.Events) < want {
			p.Next = max(p.Next, res.Through)
			break
		}
	}
	return p, nil
}

// fold returns ev as the folded view shows it, or false when the view
// leaves it out (a change event, or a deleted message).
func (s *Service) fold(ctx context.Context, room string, ev *broker.Event) (Message, bool, error) {
	if IsChangeType(ev.Type) {
		return Message{}, false, nil
	}
	c, err := s.record(ctx, room, ev)
	switch {
	case err != nil:
		return Message{}, false, err
	case c == nil:
		return Message{Event: ev}, true, nil
	case c.Op == opDelete:
		return Message{}, false, nil
	}
	edited := &broker.Event{Offset: ev.Offset, ID: ev.ID, Room: ev.Room, Type: ev.Type, Data: c.Data, Time: ev.Time, From: ev.From}
	return Message{Event: edited, Edit: &Edit{ID: c.ID.String(), Time: c.Time, From: c.From}}, true, nil
}

// AppendJSON appends m's JSON object: the event's (see broker.Event.JSON),
// with "edited": {"id","time","from"} when it was edited.
func (m *Message) AppendJSON(b []byte) []byte {
	js := m.Event.JSON()
	if m.Edit == nil {
		return append(b, js...)
	}
	b = append(b, js[:len(js)-1]...) // without its closing brace
	b = append(b, `,"edited":{"id":"`...)
	b = append(b, m.Edit.ID...)
	b = append(b, `","time":"`...)
	b = m.Edit.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","from":`...)
	b = broker.AppendJSONString(b, m.Edit.From)
	return append(b, "}}"...)
}

// AppendMessages appends a JSON array of msgs.
func AppendMessages(b []byte, msgs []Message) []byte {
	b = append(b, '[')
	for i := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = msgs[i].AppendJSON(b)
	}
	return append(b, ']')
}
