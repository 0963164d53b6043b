package main

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/conns"
	"github.com/rtbroker/rtbroker/gateways/limit"
	"github.com/rtbroker/rtbroker/gateways/longpoll"
	"github.com/rtbroker/rtbroker/gateways/socketio"
	"github.com/rtbroker/rtbroker/gateways/sse"
)

// commitMetrics are the histograms of the log's commits, observed by
// bolt.Options.OnCommit once per transaction (never per event). Created
// before the log opens; registered with the rest by newMetrics.
type commitMetrics struct {
	batch, commit, write prometheus.Histogram
	cpEvents, cpTime     prometheus.Histogram // checkpoints: bolt.Options.OnCheckpoint
}

func newCommitMetrics() *commitMetrics {
	lat := prometheus.ExponentialBuckets(0.0001, 1.25, 48) // 100µs … 3.6s, 25 % apart: a p50 near a millisecond is read to ±0.1 ms
	return &commitMetrics{
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rtbroker_commit_batch_events",
			Help: "Events per log commit (group commit: concurrent publishes share one transaction).", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rtbroker_commit_seconds",
			Help: "Time of a log commit, from taking the write lock to its journal record fdatasynced.", Buckets: lat}),
		write: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rtbroker_commit_fsync_seconds",
			Help: "Time a log commit spent writing and fdatasyncing its journal record.", Buckets: lat}),
		cpEvents: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rtbroker_checkpoint_events",
			Help: "Events per checkpoint (one bbolt transaction applying journaled commits).", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		cpTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rtbroker_checkpoint_seconds",
			Help: "Time of a checkpoint's bbolt transaction, its two fsyncs included.", Buckets: lat}),
	}
}

// newDeliverLatency is the histogram of the publish→deliver latency by
// transport, sampled by the gateways (conns.Deliveries: one batch in
// every conns.SampleEvery events written, live events only). Created
// before the gateways, which get its per-transport observers; registered
// by newMetrics.
func newDeliverLatency() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rtbroker_publish_deliver_seconds",
		Help:    "Time from a publish being accepted to its event being written to a subscriber, sampled (one subscriber batch in every 128 events delivered; live events, not replays), by transport.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, // 500µs … 16s
		[]string{"transport"})
}

// checkpoint is the bolt.Options.OnCheckpoint hook.
func (m *commitMetrics) checkpoint(_, events int, took time.Duration) {
	m.cpEvents.Observe(float64(events))
	m.cpTime.Observe(took.Seconds())
}

// observe is the bolt.Options.OnCommit hook.
func (m *commitMetrics) observe(events int, commit, write time.Duration) {
	m.batch.Observe(float64(events))
	m.commit.Observe(commit.Seconds())
	m.write.Observe(write.Seconds())
}

// metricSources are what /metrics reads at each scrape. Nil limits are
// unlimited and count nothing.
type metricSources struct {
	b                *broker.Broker
	log              broker.Log
	health           healthReporter
	path             string // the bbolt file
	sse              *sse.Handler
	poll             *longpoll.Handler
	sio              *socketio.Gateway
	authn            *auth.Authenticator
	publish, connect *limit.Buckets
	conns            *limit.Conns
	commits          *commitMetrics
	deliver          *prometheus.HistogramVec // newDeliverLatency
	sockets          *limit.Sockets
}

// newMetrics returns the registry /metrics serves: the Go runtime and
// process collectors, the commit histograms, and the server's counters
// and gauges, read from the atomics the broker and gateways keep anyway
// (so the fan-out path does no metric work of its own: no label lookup
// per event), at scrape time.
func newMetrics(src metricSources) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		src.commits.batch, src.commits.commit, src.commits.write, src.commits.cpEvents, src.commits.cpTime, src.deliver,
		&scrapeCollector{src: src, f: newFamilies()},
	)
	return reg
}

// metricsHandler serves reg in the Prometheus text format.
func metricsHandler(reg *prometheus.Registry) http.HandlerFunc {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP
}

// scrapeCollector turns the server's counters into metrics at each
// scrape.
type scrapeCollector struct {
	src metricSources
	f   *families
}

// family is one metric family of scrapeCollector.
type family struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
}

func newFamily(name, help string, kind prometheus.ValueType, labels ...string) family {
	return family{prometheus.NewDesc(name, help, labels, nil), kind}
}

// families are the metric families of scrapeCollector. Names that tests,
// dashboards or the README used before client_golang are kept.
type families struct {
	mHead         family
	mPublished    family
	mReplayed     family
	mCommits      family
	mEphemeral    family
	mSubs         family
	mSSE          family
	mPolls        family
	mSockets      family
	mConns        family
	mJoins        family
	mLeaves       family
	mRecoveries   family
	mReads        family
	mDeliveries   family
	mRejections   family
	mAuthFailures family
	mFileBytes    family
	mRooms        family
	mStorageFull  family
	mDamaged      family
	mUnavailable  family
	mBytes        family
	mReplays      family
	mSessions     family
	mLag          family
	mLagMax       family
	mSIORecovery  family
}

func newFamilies() *families {
	return &families{
		mHead:         newFamily("rtbroker_log_head", "Offset of the last committed event.", prometheus.GaugeValue),
		mPublished:    newFamily("rtbroker_events_published_total", "Events committed to the log.", prometheus.CounterValue),
		mReplayed:     newFamily("rtbroker_publishes_replayed_total", "Publishes answered from an earlier commit with the same Idempotency-Key.", prometheus.CounterValue),
		mCommits:      newFamily("rtbroker_commits_total", "Log commits (grouped publishes; on bbolt one journal fdatasync each).", prometheus.CounterValue),
		mEphemeral:    newFamily("rtbroker_ephemeral_total", "Ephemeral events sent.", prometheus.CounterValue),
		mSubs:         newFamily("rtbroker_subscriptions", "Open subscriptions over all gateways.", prometheus.GaugeValue),
		mSSE:          newFamily("rtbroker_sse_streams", "Open SSE streams.", prometheus.GaugeValue),
		mPolls:        newFamily("rtbroker_longpoll_requests", "Long-poll requests being held.", prometheus.GaugeValue),
		mSockets:      newFamily("rtbroker_socketio_sockets", "Connected Socket.IO sockets.", prometheus.GaugeValue),
		mConns:        newFamily("rtbroker_connections", "Open client connections (SSE streams, held polls, Socket.IO sockets) by transport and namespace.", prometheus.GaugeValue, "transport", "namespace"),
		mJoins:        newFamily("rtbroker_room_joins_total", "Rooms added to subscriptions (joins).", prometheus.CounterValue),
		mLeaves:       newFamily("rtbroker_room_leaves_total", "Rooms removed from subscriptions (leaves).", prometheus.CounterValue),
		mRecoveries:   newFamily("rtbroker_recoveries_total", "Positions asked for: Socket.IO joins from a position served without a gap (outcome=recovered); positions refused with a reset on any transport (outcome=refused, by reason: Socket.IO join after, SSE Last-Event-ID or after, long-poll after).", prometheus.CounterValue, "outcome", "reason"),
		mReads:        newFamily("rtbroker_subscription_events_read_total", "Events subscriptions read, from the in-memory tail (source=memory: live or a recent replay) or from the log on disk (source=disk: a replay).", prometheus.CounterValue, "source"),
		mDeliveries:   newFamily("rtbroker_deliveries_total", "Events read for clients to be sent, by transport.", prometheus.CounterValue, "transport"),
		mRejections:   newFamily("rtbroker_limit_rejections_total", "Requests and connections refused by a limit.", prometheus.CounterValue, "limit"),
		mAuthFailures: newFamily("rtbroker_auth_failures_total", "Credentials refused, by reason.", prometheus.CounterValue, "reason"),
		mFileBytes:    newFamily("rtbroker_log_file_bytes", "Size of the bbolt file.", prometheus.GaugeValue),
		mRooms:        newFamily("rtbroker_rooms", "Rooms that ever had an event.", prometheus.GaugeValue),
		mStorageFull:  newFamily("rtbroker_storage_full", "1 while the disk under the log is full or read-only (publishes get 507).", prometheus.GaugeValue),
		mDamaged:      newFamily("rtbroker_storage_damaged_pages", "Damaged parts of the log reads have hit since start.", prometheus.GaugeValue),
		mUnavailable:  newFamily("rtbroker_storage_unavailable", "1 while the JetStream stream cannot commit (no leader: its NATS cluster lost quorum; publishes get 503).", prometheus.GaugeValue),
		mBytes:        newFamily("rtbroker_delivered_bytes_total", "Bytes of events written to clients (SSE frames, Socket.IO packets, long-poll event JSON), by transport.", prometheus.CounterValue, "transport"),
		mReplays:      newFamily("rtbroker_replayed_events_total", "Events subscribers read that were committed before they followed the room (catch-up after a reconnect or a join from an offset), from the in-memory tail (source=memory) or the log on disk (source=disk).", prometheus.CounterValue, "source"),
		mSessions:     newFamily("rtbroker_socketio_sessions", "Connected Socket.IO sockets by namespace and Engine.IO transport (polling, websocket).", prometheus.GaugeValue, "namespace", "engine"),
		mLag:          newFamily("rtbroker_subscriber_lag_events", "Open connections by how many events of their rooms they have still to be sent (counted at scrape time, up to 1,000 per room).", prometheus.GaugeValue),
		mSIORecovery:  newFamily("rtbroker_socketio_recoveries_total", "Socket.IO connection state recoveries asked for (a CONNECT with a pid): outcome=recovered; outcome=refused by reason (unknown_session, epoch_mismatch, bad_offset, trimmed, forbidden, error): a new session; outcome=retry, reason=unavailable: the session store or the log could not answer in time, the connection was closed and the client reconnects.", prometheus.CounterValue, "outcome", "reason"),
		mLagMax:       newFamily("rtbroker_subscriber_lag_max_events", "The largest lag of an open connection, in events (up to 1,000 per room).", prometheus.GaugeValue),
	}
}

// all lists the families, for Describe.
func (f *families) all() []family {
	return []family{f.mHead, f.mPublished, f.mReplayed, f.mCommits, f.mEphemeral, f.mSubs, f.mSSE, f.mPolls, f.mSockets, f.mConns, f.mJoins, f.mLeaves, f.mRecoveries, f.mReads, f.mDeliveries, f.mRejections, f.mAuthFailures, f.mFileBytes, f.mRooms, f.mStorageFull, f.mDamaged, f.mUnavailable,
		f.mBytes, f.mReplays, f.mSessions, f.mLag, f.mLagMax, f.mSIORecovery}
}

// Describe sends every family's description.
func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.f.all() {
		ch <- m.desc
	}
}

// Collect reads the counters. Safe for concurrent scrapes.
func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	s, f := c.src, c.f
	emit := func(m family, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, v, labels...)
	}
	st := s.b.Stats()
	emit(f.mHead, float64(st.Head))
	emit(f.mPublished, float64(st.Published))
	emit(f.mReplayed, float64(st.Replayed))
	emit(f.mCommits, float64(st.Commits))
	emit(f.mEphemeral, float64(st.Ephemeral))
	emit(f.mSubs, float64(st.Subscriptions))
	emit(f.mJoins, float64(st.Joins))
	emit(f.mLeaves, float64(st.Leaves))
	emit(f.mRecoveries, float64(st.Resumed), "recovered", "")
	emit(f.mRecoveries, float64(st.ResetTrimmed), "refused", "trimmed")
	emit(f.mRecoveries, float64(st.ResetEpoch), "refused", "epoch_mismatch")
	emit(f.mReads, float64(st.ReadTail), "memory")
	emit(f.mReads, float64(st.ReadLog), "disk")

	sseN, pollN := s.sse.Active(), s.poll.Active()
	emit(f.mSSE, float64(sseN))
	emit(f.mPolls, float64(pollN))
	emit(f.mSockets, float64(s.sio.Sockets()))
	emit(f.mConns, float64(sseN), "sse", "")
	emit(f.mConns, float64(pollN), "longpoll", "")
	for ns, n := range s.sio.SocketsByNamespace() {
		emit(f.mConns, float64(n), "socketio", ns)
	}
	emit(f.mDeliveries, float64(s.sse.Delivered()), "sse")
	emit(f.mDeliveries, float64(s.poll.Delivered()), "longpoll")
	emit(f.mDeliveries, float64(s.sio.Delivered()), "socketio")
	emit(f.mBytes, float64(s.sse.DeliveredBytes()), "sse")
	emit(f.mBytes, float64(s.poll.DeliveredBytes()), "longpoll")
	emit(f.mBytes, float64(s.sio.DeliveredBytes()), "socketio")
	emit(f.mReplays, float64(st.ReplayTail), "memory")
	emit(f.mReplays, float64(st.ReplayLog), "disk")
	for reason, n := range s.sio.Recoveries() {
		switch reason {
		case "recovered":
			emit(f.mSIORecovery, float64(n), "recovered", "")
		case "unavailable":
			emit(f.mSIORecovery, float64(n), "retry", reason)
		default:
			emit(f.mSIORecovery, float64(n), "refused", reason)
		}
	}
	for k, n := range s.sio.SocketsByEngine() {
		emit(f.mSessions, float64(n), k[0], k[1])
	}

	emit(f.mRejections, float64(s.publish.Rejected()), "publish_rate")
	emit(f.mRejections, float64(s.connect.Rejected()), "connect_rate")
	emit(f.mRejections, float64(s.conns.Rejected()), "connections_per_ip")
	emit(f.mRejections, float64(s.sockets.Rejected()), "sockets_per_ip")
	for reason, n := range s.authn.Failures() {
		emit(f.mAuthFailures, float64(n), reason)
	}

	if fi, err := os.Stat(s.path); err == nil {
		emit(f.mFileBytes, float64(fi.Size()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.collectLag(ctx, ch)
	if rooms, err := s.log.Rooms(ctx); err == nil {
		emit(f.mRooms, float64(len(rooms)))
	}
	h := s.health.Health()
	full := 0.0
	if h.Full != "" {
		full = 1
	}
	emit(f.mStorageFull, full)
	emit(f.mDamaged, float64(len(h.Damaged)))
	down := 0.0
	if u, ok := s.health.(unavailabler); ok && u.Unavailable() != "" {
		down = 1
	}
	emit(f.mUnavailable, down)
}

// lagBuckets are the upper bounds of rtbroker_subscriber_lag_events;
// metricsLagLimit caps the count per room at scrape time (a connection
// behind the in-memory tail is counted on the log's index, at most that
// many entries per room).
var lagBuckets = []float64{0, 1, 10, 100, 1000}

const metricsLagLimit = 1000

// collectLag sends the lag histogram and maximum over every open
// connection: a pass over the gateways' registries, each connection's lag
// counted from the tail (or from the log's index, at most metricsLagLimit
// per room, for connections behind it).
func (c *scrapeCollector) collectLag(ctx context.Context, ch chan<- prometheus.Metric) {
	counts := make(map[float64]uint64, len(lagBuckets))
	var n uint64
	var sum float64
	maxLag := 0
	for _, reg := range []*conns.Registry{c.src.sse.Connections(), c.src.poll.Connections(), c.src.sio.Connections()} {
		for _, e := range reg.Snapshot() {
			lag := e.Lag(ctx, metricsLagLimit)
			if lag < 0 {
				continue
			}
			n++
			sum += float64(lag)
			maxLag = max(maxLag, lag)
			for _, b := range lagBuckets {
				if float64(lag) <= b {
					counts[b]++
				}
			}
		}
	}
	ch <- prometheus.MustNewConstHistogram(c.f.mLag.desc, n, sum, counts)
	ch <- prometheus.MustNewConstMetric(c.f.mLagMax.desc, prometheus.GaugeValue, float64(maxLag))
}
