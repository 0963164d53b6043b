package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// runScenario runs b's scenario. An error aborts the run (it becomes a
// problem of the result).
func (b *bench) runScenario(ctx context.Context) error {
	if err := b.checkServer(ctx); err != nil {
		return err
	}
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { b.progress(pctx) })
	defer wg.Wait()
	defer stop()
	switch b.cfg.Scenario {
	case "fanout":
		return b.fanout(ctx)
	case "rooms", "latency":
		return b.steady(ctx)
	case "idle":
		return b.idle(ctx)
	case "replay":
		return b.replay(ctx)
	case "storm":
		return b.storm(ctx)
	case "ingest":
		return b.ingest(ctx)
	case "conns":
		return b.conns(ctx)
	}
	return fmt.Errorf("unknown scenario %q", b.cfg.Scenario)
}

// steady publishes at --rate for --warmup then --duration (measured).
func (b *bench) steady(ctx context.Context) error {
	c := b.cfg
	if err := b.subscribeFresh(ctx, c.Subs); err != nil {
		return err
	}
	pub := b.newPublisher()
	b.setPhase("warmup")
	pub.run(ctx, c.Rate, c.Warmup)
	b.setPhase("measuring")
	s0, p0, m, t0 := b.stats(nil), pub.published(), b.startMeters(), time.Now()
	pub.run(ctx, c.Rate, c.Duration)
	el := time.Since(t0)
	s1, p1 := b.stats(nil), pub.published()
	b.readMeters(m)
	s := b.drain(ctx)
	b.fill(s)
	b.res.DurationS = seconds(el)
	b.res.DeliveredPerS = float64(s1.Delivered-s0.Delivered) / el.Seconds()
	b.res.LatencyMs = latencyOf(s.Latency.Sub(s0.Latency))
	b.res.Extra["published_per_s"] = float64(p1-p0) / el.Seconds()
	b.checkRate(float64(p1-p0) / el.Seconds())
	return nil
}

// checkRate warns when the publisher fell short of --rate.
func (b *bench) checkRate(achieved float64) {
	if achieved < 0.9*b.cfg.Rate {
		b.res.Extra["warning"] = fmt.Sprintf("the publisher reached %.0f of %g events/s (publish p99 %v ms over %d connections): raise --pub-conns",
			achieved, b.cfg.Rate, b.res.Extra["publish_p99_ms"], b.cfg.PubConns)
	}
}

// stepResult is one rate step of fanout.
type stepResult struct {
	Rate          float64 `json:"rate"`
	PublishedPerS float64 `json:"published_per_s"`
	DeliveriesPS  float64 `json:"deliveries_per_s"`
	Delivery      float64 `json:"delivery"` // delivered ÷ expected in the step
	P50           float64 `json:"p50_ms"`
	P99           float64 `json:"p99_ms"`
	ServerCPU     float64 `json:"server_cpu_pct"`
	LoadCPU       float64 `json:"load_cpu_pct"`
	Pass          bool    `json:"pass"`
	ToolBound     bool    `json:"tool_bound,omitempty"` // the tool was above --max-load-cpu
}

// fanout steps the publish rate up until latency or delivery fails.
func (b *bench) fanout(ctx context.Context) error {
	c := b.cfg
	if err := b.subscribeFresh(ctx, c.Subs); err != nil {
		return err
	}
	pub := b.newPublisher()
	rate := c.Rate
	b.setPhase("warmup")
	pub.run(ctx, rate, c.Warmup)
	b.settle(ctx, c.MaxP99)
	var steps []stepResult
	best := -1
	var bestLat *Snapshot
	fails := 0
	t0 := time.Now()
	for ctx.Err() == nil {
		b.setPhase(fmt.Sprintf("%g/s", rate))
		s0, e0, m, ts := b.stats(nil), b.expectedDeliveries(), b.startMeters(), time.Now()
		p0 := pub.published()
		pub.run(ctx, rate, c.StepDuration)
		el := time.Since(ts).Seconds()
		b.readMeters(m)
		// Events published at the end of the step are still on their way:
		// give them up to --max-p99 (later ones are late anyway).
		s1 := b.settle(ctx, c.MaxP99)
		e1 := b.expectedDeliveries()
		lat := s1.Latency.Sub(s0.Latency)
		st := stepResult{
			Rate:          rate,
			PublishedPerS: round1(float64(pub.published()-p0) / el),
			DeliveriesPS:  round1(float64(s1.Delivered-s0.Delivered) / el),
			P50:           ms(lat.Quantile(0.5)),
			P99:           ms(lat.Quantile(0.99)),
			ServerCPU:     b.res.Server.CPUPct,
			LoadCPU:       b.res.LoadCPUPct,
		}
		if e1 > e0 {
			st.Delivery = float64(int64(float64(s1.Delivered-s0.Delivered)/float64(e1-e0)*1e4)) / 1e4
		}
		kept := st.PublishedPerS >= 0.9*rate
		st.Pass = kept && st.P99 <= float64(c.MaxP99.Milliseconds()) && st.Delivery >= c.MinDelivery
		st.ToolBound = c.MaxLoadCPU > 0 && st.LoadCPU > c.MaxLoadCPU
		steps = append(steps, st)
		verdict := map[bool]string{true: "", false: " — failed"}[st.Pass]
		if st.ToolBound {
			verdict += fmt.Sprintf(" — the tool was above %g%% CPU: not counted", c.MaxLoadCPU)
		}
		b.logf("step %g/s: %s deliveries/s, delivery %.4f, p99 %.1f ms, server CPU %.0f%%, load CPU %.0f%%%s",
			rate, thousands(st.DeliveriesPS), st.Delivery, st.P99, st.ServerCPU, st.LoadCPU, verdict)
		if st.Pass && !st.ToolBound && (best < 0 || st.DeliveriesPS > steps[best].DeliveriesPS) {
			best, bestLat = len(steps)-1, lat
		}
		if st.Pass {
			fails = 0
		} else if fails++; fails < 2 {
			// Start the retry from a clean slate.
			b.drain(ctx)
		} else {
			// Two failing steps in a row: a single one may be a hiccup
			// (an fsync stall on a shared disk), so it is tried again at
			// the same rate first.
			if !kept {
				b.res.Extra["stop"] = fmt.Sprintf("the publisher reached %.0f of %g events/s", st.PublishedPerS, rate)
			}
			break
		}
		if time.Since(t0) >= c.Duration {
			b.res.Extra["stop"] = "--duration reached"
			break
		}
		if st.Pass {
			rate *= c.RateFactor
		}
	}
	s := b.drain(ctx)
	b.fill(s)
	b.res.Extra["steps"] = steps
	passed := 0
	for _, st := range steps {
		if st.Pass && !st.ToolBound {
			passed++
		}
	}
	b.res.Extra["passed_steps"] = passed
	b.res.DurationS = seconds(time.Since(t0))
	if best < 0 {
		b.res.Extra["max_deliveries_per_s"] = 0.0
		b.res.problem("no step met p99 ≤ %v and delivery ≥ %g with the tool at most %g%% CPU", c.MaxP99, c.MinDelivery, c.MaxLoadCPU)
		return nil
	}
	bs := steps[best]
	b.res.Rate = bs.Rate
	b.res.DeliveredPerS = bs.DeliveriesPS
	b.res.Extra["max_deliveries_per_s"] = bs.DeliveriesPS
	b.res.Extra["max_rate"] = bs.Rate
	b.res.LatencyMs = latencyOf(bestLat)
	b.res.Server.CPUPct, b.res.LoadCPUPct = bs.ServerCPU, bs.LoadCPU
	return nil
}

// settle waits until the subscribers have every acknowledged event or
// for at most d, and returns their stats.
func (b *bench) settle(ctx context.Context, d time.Duration) *fleetStats {
	deadline := time.Now().Add(d)
	for {
		s := b.stats(b.expected())
		if s.Behind == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// expectedDeliveries is Σ over rooms of events acknowledged × the room's
// subscribers (all subscribers, as if none had failed).
func (b *bench) expectedDeliveries() uint64 {
	var n uint64
	subs := uint64(b.cfg.Subs)
	k := uint64(len(b.rooms))
	for i, a := range b.expected() {
		per := subs / k
		if uint64(i) < subs%k {
			per++
		}
		n += a * per
	}
	return n
}

// idle opens idle subscribers and reports the server's RSS growth per
// connection once it settles.
func (b *bench) idle(ctx context.Context) error {
	c := b.cfg
	b.newRooms()
	b.setPhase("settling")
	before, ok, err := settleRSS(ctx, c.ServerPID, 500*time.Millisecond, 3*time.Second, 0.01, 60*time.Second)
	if err != nil {
		return fmt.Errorf("server RSS: %w", err)
	}
	if !ok {
		b.res.Extra["warning"] = "the server's RSS did not settle before the connections opened"
	}
	if err := b.subscribe(ctx, b.spec(c.Subs)); err != nil {
		return err
	}
	connected := time.Now()
	m := b.startMeters()
	if err := b.rssAt(ctx, connected, before); err != nil {
		return err
	}
	b.setPhase("settling")
	after, ok, err := settleRSS(ctx, c.ServerPID, 500*time.Millisecond, 3*time.Second, 0.01, 120*time.Second)
	if err != nil {
		return fmt.Errorf("server RSS: %w", err)
	}
	if !ok {
		b.res.Extra["warning"] = "the server's RSS did not settle within 120 s"
	}
	b.readMeters(m)
	s := b.stats(b.expected())
	b.fill(s)
	b.res.Server.RSSBytes = after
	if s.Subscribed > 0 {
		b.res.Server.RSSPerConnBytes = float64(int64(after)-int64(before)) / float64(s.Subscribed)
	}
	b.res.Extra["rss_before_bytes"] = float64(before)
	b.res.Extra["rss_after_bytes"] = float64(after)
	return nil
}

// rssAt reads the server's RSS at each --rss-at after connected (when the
// last connection was open) and records its growth over before per
// subscribed connection as extra.rss_per_conn_<N>s_bytes (the RSS itself
// as extra.rss_<N>s_bytes).
func (b *bench) rssAt(ctx context.Context, connected time.Time, before uint64) error {
	for _, d := range b.cfg.RSSAt {
		b.setPhase(fmt.Sprintf("waiting for %s after the last connect", d))
		select {
		case <-time.After(time.Until(connected.Add(d))):
		case <-ctx.Done():
			return ctx.Err()
		}
		rss, err := procRSS(b.cfg.ServerPID)
		if err != nil {
			return fmt.Errorf("server RSS: %w", err)
		}
		b.res.Extra["rss_"+secs(d)+"s_bytes"] = float64(rss)
		if n := b.stats(b.expected()).Subscribed; n > 0 {
			b.res.Extra["rss_per_conn_"+secs(d)+"s_bytes"] = round1(float64(int64(rss)-int64(before)) / float64(n))
		}
	}
	return nil
}

// secs writes d in seconds for a figure's name: "10", "0.5".
func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// conns opens --subs connections, holds them for --duration, then
// publishes one event per room and checks every connection delivers it.
func (b *bench) conns(ctx context.Context) error {
	c := b.cfg
	if err := b.subscribeFresh(ctx, c.Subs); err != nil {
		return err
	}
	m := b.startMeters()
	b.setPhase("holding")
	select {
	case <-time.After(c.Duration):
	case <-ctx.Done():
	}
	b.setPhase("checking")
	pub := b.newPublisher()
	pub.publishN(ctx, len(b.rooms))
	s := b.drain(ctx)
	b.readMeters(m)
	b.fill(s)
	b.res.DurationS = seconds(c.Duration)
	b.res.Extra["held"] = s.Subscribed
	if s.Subscribed < c.Subs {
		b.res.problem("%d of %d connections held", s.Subscribed, c.Subs)
	}
	return nil
}

// storm drops every subscriber at once (or runs --restart-cmd) while
// publishing; every client must resubscribe and recover every event.
func (b *bench) storm(ctx context.Context) error {
	c := b.cfg
	if err := b.subscribeFresh(ctx, c.Subs); err != nil {
		return err
	}
	pub := b.newPublisher()
	if b.grp.local != nil {
		b.grp.local.setAcked(func(room int) uint64 { return pub.acked[room].Load() })
	}
	m := b.startMeters()
	b.setPhase("publishing")
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		pub.run(ctx, c.Rate, c.Warmup+c.Duration)
	}()
	select {
	case <-time.After(c.Warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	b.setPhase("storm")
	tDrop := time.Now()
	var dropped int
	var err error
	if c.RestartCmd != "" {
		dropped, err = b.restart(ctx)
	} else {
		dropped, err = b.grp.drop()
	}
	if err != nil {
		return err
	}
	b.logf("dropped %d connections", dropped)
	s := b.waitResubscribed(ctx, int64(dropped))
	b.res.Extra["dropped"] = dropped
	b.res.Extra["resubscribed"] = s.Resubscribed
	if s.Resubscribed >= int64(dropped) && s.LastResub > 0 {
		b.res.Extra["resubscribed_s"] = seconds(time.Duration(s.LastResub - tDrop.UnixNano()))
	} else {
		b.res.problem("%d of %d dropped clients resubscribed", s.Resubscribed, dropped)
	}
	if b.grp.local != nil { // clients in worker processes do not count Recovered
		b.res.Extra["recovered"] = s.Recovered
		if s.Recovered >= int64(dropped) && s.LastRecovered > 0 {
			b.res.Extra["recovered_s"] = seconds(time.Duration(s.LastRecovered - tDrop.UnixNano()))
		} else {
			b.res.problem("%d of %d dropped clients recovered the events they missed", s.Recovered, dropped)
		}
	}
	b.setPhase("publishing")
	<-pubDone
	b.readMeters(m)
	s = b.drain(ctx)
	b.fill(s)
	b.res.DurationS = seconds(c.Warmup + c.Duration)
	b.res.LatencyMs = latencyOf(s.Latency)
	b.res.DeliveredPerS = float64(s.Delivered) / (c.Warmup + c.Duration).Seconds()
	return nil
}

// restart runs --restart-cmd with publishing paused, waits for the server
// to answer again, and returns how many subscribers were connected.
func (b *bench) restart(ctx context.Context) (int, error) {
	n, err := b.grp.expectDrop()
	if err != nil {
		return 0, err
	}
	b.pub.stopPublishing()
	defer b.pub.resume()
	t := time.Now()
	cmd := exec.CommandContext(ctx, "sh", "-c", b.cfg.RestartCmd)
	cmd.Stdout, cmd.Stderr = b.stderr, b.stderr
	if err := cmd.Run(); err != nil {
		return n, fmt.Errorf("--restart-cmd: %w", err)
	}
	if err := b.waitHealthy(ctx, b.cfg.ReconnectTimeout); err != nil {
		return n, fmt.Errorf("after --restart-cmd: %w", err)
	}
	b.res.Extra["restart_s"] = seconds(time.Since(t))
	return n, nil
}

// waitResubscribed waits until n dropped clients are subscribed again
// (or gave up), then, for clients of this process, up to --drain-timeout
// more until they have received what they missed (a server that lost
// events never gets them there).
func (b *bench) waitResubscribed(ctx context.Context, n int64) *fleetStats {
	deadline := time.Now().Add(b.cfg.ReconnectTimeout + 10*time.Second)
	resubscribed := false
	for {
		s := b.stats(nil)
		if !resubscribed && s.Resubscribed+s.ReconnectFailures >= n {
			resubscribed = true
			deadline = time.Now().Add(b.cfg.DrainTimeout)
		}
		done := resubscribed && (b.grp.local == nil || s.Recovered+s.ReconnectFailures >= n)
		if done || time.Now().After(deadline) || ctx.Err() != nil {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ingest publishes back to back (or at --rate) and measures durable
// events/s and publish latency.
func (b *bench) ingest(ctx context.Context) error {
	c := b.cfg
	b.newRooms()
	if c.Subs > 0 {
		if err := b.subscribe(ctx, b.spec(c.Subs)); err != nil {
			return err
		}
	}
	pub := b.newPublisher()
	b.setPhase("warmup")
	pub.run(ctx, c.Rate, c.Warmup)
	b.setPhase("measuring")
	l0, p0, m, t0 := pub.lat.Snapshot(), pub.published(), b.startMeters(), time.Now()
	pub.run(ctx, c.Rate, c.Duration)
	el := time.Since(t0)
	p1, lat := pub.published(), pub.lat.Snapshot().Sub(l0)
	b.readMeters(m)
	s := b.drain(ctx)
	b.fill(s)
	b.res.DurationS = seconds(el)
	b.res.LatencyMs = latencyOf(lat)
	b.res.Extra["ingest_events_per_s"] = round1(float64(p1-p0) / el.Seconds())
	if c.Subs > 0 {
		b.res.DeliveredPerS = float64(s.Delivered) / el.Seconds()
	}
	return nil
}

// subscribeFresh makes new rooms for the run and subscribes n clients to
// them.
func (b *bench) subscribeFresh(ctx context.Context, n int) error {
	b.newRooms()
	return b.subscribe(ctx, b.spec(n))
}
