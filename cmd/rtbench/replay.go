package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// replay makes sure the replay room holds --events events, then has
// --subs clients read it all from offset 0.
func (b *bench) replay(ctx context.Context) error {
	c := b.cfg
	room := fmt.Sprintf("replay-%d-%d", c.Events, c.Size)
	b.rooms = []string{room}
	have, err := b.roomCount(ctx, room)
	if err != nil {
		return err
	}
	if have < uint64(c.Events) {
		b.setPhase("filling")
		if err := b.fill1(ctx, room, uint64(c.Events)-have); err != nil {
			return err
		}
		if have, err = b.roomCount(ctx, room); err != nil {
			return err
		}
	}
	b.logf("room %s holds %d events", room, have)
	b.exp = []uint64{have}
	spec := b.spec(c.Subs)
	spec.Expect, spec.Latency, spec.FromZero = have, false, true
	m, t0 := b.startMeters(), time.Now()
	if err := b.subscribe(ctx, spec); err != nil {
		return err
	}
	b.setPhase("replaying")
	s := b.stats(b.exp)
	progressAt, delivered := time.Now(), s.Delivered
	for s.Done+s.Failures+s.ReconnectFailures < int64(c.Subs) && ctx.Err() == nil {
		if s.Delivered != delivered {
			progressAt, delivered = time.Now(), s.Delivered
		} else if time.Since(progressAt) > b.cfg.DrainTimeout {
			break
		}
		time.Sleep(20 * time.Millisecond)
		s = b.stats(b.exp)
	}
	b.readMeters(m)
	b.fill(s)
	b.res.Published = 0
	b.res.Extra["events"] = have
	if s.Done == 0 {
		return nil
	}
	el := time.Duration(s.LastDone - t0.UnixNano())
	b.res.DurationS = seconds(el)
	agg := float64(s.Delivered) / el.Seconds()
	b.res.DeliveredPerS = round1(agg)
	b.res.Extra["replay_events_per_s"] = round1(agg)
	if med := s.Replay.Quantile(0.5); med > 0 {
		b.res.Extra["replay_client_events_per_s"] = round1(float64(have) / time.Duration(med).Seconds())
	}
	if s.Replay.Max > 0 {
		b.res.Extra["replay_slowest_client_events_per_s"] = round1(float64(have) / time.Duration(s.Replay.Max).Seconds())
	}
	return nil
}

// roomCount returns how many events the room holds (GET /api/rooms).
func (b *bench) roomCount(ctx context.Context, room string) (uint64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.cfg.URL+"/api/rooms", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("list rooms: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("list rooms: HTTP %d", resp.StatusCode)
	}
	var list struct {
		Rooms []struct {
			Room  string `json:"room"`
			Count uint64 `json:"count"`
		} `json:"rooms"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return 0, fmt.Errorf("list rooms: %w", err)
	}
	for _, r := range list.Rooms {
		if r.Room == room {
			return r.Count, nil
		}
	}
	return 0, nil
}

// fill1 publishes n events into room in batches (JSON arrays of at most
// ~512 KiB), over --pub-conns connections.
func (b *bench) fill1(ctx context.Context, room string, n uint64) error {
	c := b.cfg
	per := uint64(min(1000, max(1, (512<<10)/(c.Size+48))))
	b.logf("publishing %d events into %s", n, room)
	for _, part := range []struct{ batch, count uint64 }{{per, n / per}, {n % per, 1}} {
		if part.batch == 0 || part.count == 0 {
			continue
		}
		p := newPublisher("http", []string{c.URL}, []string{room}, c.Size, int(part.batch), c.PubConns, c.ConnectTimeout)
		b.setPub(p)
		p.publishN(ctx, int(part.count))
		if p.errors.Load() > 0 {
			return fmt.Errorf("filling %s: %v", room, p.errorSamples())
		}
	}
	b.setPub(nil)
	return nil
}
