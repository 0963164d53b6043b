package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
	"github.com/rtbroker/rtbroker/gateways/limit"
	"github.com/rtbroker/rtbroker/gateways/messages"
	"github.com/rtbroker/rtbroker/gateways/presence"
	"github.com/rtbroker/rtbroker/gateways/receipts"
	"github.com/rtbroker/rtbroker/gateways/typing"

	"github.com/rtbroker/rtbroker/broker"
)

// DefaultMaxBodySize is Config.MaxBodySize's default, in bytes; the
// command's flag defaults to it too.
const DefaultMaxBodySize = 1 << 20

// Config holds the REST API's limits. Zero values take the defaults.
type Config struct {
	// MaxBodySize caps a publish request body in bytes. Default 1 MiB.
	MaxBodySize int64
	// MaxBatch caps how many events one publish request may carry.
	// Default 1000.
	MaxBatch int
	// DefaultLimit and MaxLimit bound history pages. Defaults 100 and 1000.
	DefaultLimit int
	MaxLimit     int
	// Auth authenticates requests and decides what they may do; an
	// event's `from` is the authenticated identity's subject. Default
	// auth.Open() (everyone anonymous, allowed everything).
	Auth *auth.Authenticator
	// AllowedOrigins lists the origins allowed to call the API from
	// another site ("*": any but "null"); see Handler.CORS. A publish
	// authenticated by the rtbroker_token cookie must come from the same
	// origin or one of these (CSRF). Default none.
	AllowedOrigins []string
	// PublishLimit caps how fast an identity publishes (a batch takes one
	// token); see limit.PublishKey. Over it, 429 rate_limited with
	// Retry-After. Default nil: no limit.
	PublishLimit *limit.Buckets
	// Presence answers GET /api/rooms/{room}/presence (see Presence).
	// Default nil: every room is empty.
	Presence *presence.Registry
	// Logger receives internal errors. Default slog.Default().
	Logger *slog.Logger
	// Receipts keeps read positions and counts unread events (POST
	// /api/rooms/{room}/read, GET /api/me/rooms); share it with the other
	// gateways. Default: a receipts.Service of its own on the broker.
	Receipts *receipts.Service
	// Typing, when set, tracks the typists of ephemeral typing:start
	// publishes and stops them after its timeout (see typing.go); the
	// Socket.IO gateway shares it. Its owner closes it. Default nil:
	// typing events are sent, not tracked.
	Typing *typing.Tracker
	// Messages makes edits and deletes and serves the folded message view
	// (see messages.go); share one with the other gateways. Default: a
	// Service of its own on the broker, without a moderator role.
	Messages *messages.Service
}

func (c *Config) setDefaults() {
	if c.MaxBodySize <= 0 {
		c.MaxBodySize = DefaultMaxBodySize
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1000
	}
	if c.DefaultLimit <= 0 {
		c.DefaultLimit = 100
	}
	if c.MaxLimit <= 0 {
		c.MaxLimit = 1000
	}
	if c.DefaultLimit > c.MaxLimit {
		c.DefaultLimit = c.MaxLimit
	}
	if c.Auth == nil {
		c.Auth = auth.Open()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Handler serves the REST API. Its methods are safe for concurrent use.
type Handler struct {
	b       *broker.Broker
	cfg     Config
	log     *slog.Logger
	origins *httpx.Origins
	// receipts is Config.Receipts or the handler's own.
	receipts *receipts.Service
	msgs     *messages.Service // Config.Messages
	bodies   sync.Pool         // *[]byte publish bodies are read into; see readBody
	answers  sync.Pool         // *[]byte publish answers are written from; see writeEvent
}

// New returns the REST API on b.
func New(b *broker.Broker, cfg Config) *Handler {
	cfg.setDefaults()
	msgs := cfg.Messages
	if msgs == nil {
		msgs = messages.New(b, messages.Config{})
	}
	h := &Handler{b: b, cfg: cfg, log: cfg.Logger, origins: httpx.NewOrigins(cfg.AllowedOrigins), receipts: cfg.Receipts, msgs: msgs}
	if h.receipts == nil {
		h.receipts = receipts.New(b, receipts.Config{})
	}
	return h
}

// CORS wraps next (the API, SSE or long-poll routes) with the CORS
// answers for Config.AllowedOrigins: nothing when the list is empty;
// otherwise an allowed origin is echoed with
// Access-Control-Allow-Credentials: true and Vary: Origin, and preflights
// are answered 204 (GET, POST, PATCH, DELETE; Authorization, Content-Type,
// Idempotency-Key, X-API-Key, Last-Event-ID), or 403 forbidden for an
// origin not in the list.
func (h *Handler) CORS(next http.Handler) http.Handler { return h.origins.CORS(next) }

// acceptedMediaType lists the Content-Types a publish body may be sent
// with; the body is JSON whatever the header says (curl -d sends
// application/x-www-form-urlencoded).
var acceptedMediaType = map[string]bool{
	"application/json":                  true,
	"text/plain":                        true,
	"application/x-www-form-urlencoded": true,
}

// publishBody is one event in a publish request.
type publishBody struct {
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	Ephemeral bool            `json:"ephemeral"`
}

// Publish handles POST /api/rooms/{room}/events. The body is one
// {"type","data"[,"ephemeral"]} object, answered 201 with the committed
// event, or an array of them, answered 201 with {"events":[…]} (all or
// nothing). An ephemeral event is answered 202 and is not logged. The
// Idempotency-Key header (single event only) makes a retry return the
// first result, marked with Idempotent-Replayed: true.
//
// The request's credential must allow publishing to the room (401
// unauthorized, 403 forbidden otherwise); the events' `from` is its
// subject. A publish authenticated by the rtbroker_token cookie from
// another site not in Config.AllowedOrigins is refused 403 forbidden
// "cross-site request" (CSRF).
//
// The room is the request's "room" path value; a router that sets none
// (SetPathValue costs two allocations) may route here only the paths
// PublishPath accepts, whose room is then taken from r.URL.Path.
func (h *Handler) Publish(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if room == "" {
		room, _ = PublishPath(r.URL.Path)
	}
	if err := broker.ValidatePublicRoom(room); err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.origins.CheckSite(r); err != nil {
		h.writeError(w, r, err)
		return
	}
	id, err := httpx.Authorize(h.cfg.Auth, r, auth.Publish, room)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if h.cfg.PublishLimit != nil { // the key costs an allocation
		if key, limited := limit.PublishKey(id, r.RemoteAddr); limited {
			if ok, wait := h.cfg.PublishLimit.Allow(key); !ok {
				h.writeError(w, r, &wire.RateLimited{Wait: wait})
				return
			}
		}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !acceptedMediaType[ct] { // the exact type needs no parse
		if mt, _, err := mime.ParseMediaType(ct); err != nil || !acceptedMediaType[mt] {
			h.writeError(w, r, &wire.Error{Status: http.StatusUnsupportedMediaType, Code: wire.CodeMediaType, Message: "Content-Type must be application/json (text/plain and application/x-www-form-urlencoded bodies are read as JSON too)"})
			return
		}
	}
	buf, err := h.readBody(w, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// The broker copies what it keeps (CompactJSON), and so does the
	// replay check: the buffer is free again once the answer is written.
	// An ephemeral publish does not give it back (the typing tracker
	// takes the message).
	recycle := true
	defer func() {
		if recycle {
			h.putBody(buf)
		}
	}()
	body := bytes.TrimSpace(*buf)
	if len(body) > 0 && body[0] == '[' {
		h.publishBatch(w, r, room, id.From(), body)
		return
	}
	pb, ok := parsePublishFast(body)
	if !ok {
		var slow publishBody // on the heap, where only this path pays for it
		if err := decodeStrict(body, &slow); err != nil {
			h.writeError(w, r, err)
			return
		}
		pb = slow
	}
	if err := messages.CheckPublishType(pb.Type); err != nil {
		h.writeError(w, r, err) // edits and deletes go through the messages API
		return
	}
	m := broker.Message{Room: room, Type: pb.Type, Data: pb.Data, From: id.From(), IdempotencyKey: r.Header.Get("Idempotency-Key")}
	if pb.Ephemeral || typing.IsTyping(pb.Type) {
		recycle = false
		if err := h.typingBefore(m); err != nil {
			h.writeError(w, r, err)
			return
		}
		ev, err := h.b.PublishEphemeral(m)
		if err != nil {
			h.typingFailed(m)
			h.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusAccepted, ev.JSON())
		return
	}
	ev, replayed, err := h.b.PublishKeyed(r.Context(), m)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if replayed {
		if ev.Type != m.Type || string(ev.Data) != string(mustCompact(m.Data)) {
			h.writeError(w, r, &wire.Error{Status: http.StatusUnprocessableEntity, Code: wire.CodeIdempotency, Message: "Idempotency-Key was already used in this room for a different event"})
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
	}
	// The Location is built on the stack and copied once.
	var scratch [128]byte
	loc := append(append(append(scratch[:0], "/api/rooms/"...), room...), "/events?after="...)
	loc = append(strconv.AppendUint(loc, ev.Offset-1, 10), "&limit=1"...)
	w.Header()["Location"] = []string{string(loc)}
	h.writeEvent(w, http.StatusCreated, ev)
}

// PublishPath returns the room of a decoded path /api/rooms/{room}/events
// whose room is one plain segment (not empty, no '/'); ok is false for
// any other path.
func PublishPath(path string) (room string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/api/rooms/")
	if !ok {
		return "", false
	}
	room, ok = strings.CutSuffix(rest, "/events")
	if !ok || room == "" || strings.IndexByte(room, '/') >= 0 {
		return "", false
	}
	return room, true
}

// writeEvent answers with the event's JSON and a newline in one write,
// from a pooled buffer (the event's JSON is shared: it is copied, never
// appended to).
func (h *Handler) writeEvent(w http.ResponseWriter, status int, ev *broker.Event) {
	js := ev.JSON()
	buf, _ := h.answers.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	b := append(append((*buf)[:0], js...), '\n')
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	w.Write(b)
	if cap(b) <= maxPooledBody {
		*buf = b[:0]
		h.answers.Put(buf)
	}
}

func (h *Handler) publishBatch(w http.ResponseWriter, r *http.Request, room, from string, body []byte) {
	if r.Header.Get("Idempotency-Key") != "" {
		h.writeError(w, r, badRequest("Idempotency-Key applies to single-event publishes only"))
		return
	}
	pbs, ok := parseBatchFast(body)
	if !ok {
		if err := decodeStrict(body, &pbs); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	if len(pbs) == 0 || len(pbs) > h.cfg.MaxBatch {
		h.writeError(w, r, badRequest("a batch carries 1 to "+itoa(int64(h.cfg.MaxBatch))+" events"))
		return
	}
	msgs := make([]broker.Message, len(pbs))
	for i, pb := range pbs {
		if pb.Ephemeral {
			h.writeError(w, r, badRequest("ephemeral events cannot be batched"))
			return
		}
		if typing.IsTyping(pb.Type) {
			h.writeError(w, r, badRequest(pb.Type+" is ephemeral and cannot be batched"))
			return
		}
		if err := messages.CheckPublishType(pb.Type); err != nil {
			h.writeError(w, r, err)
			return
		}
		msgs[i] = broker.Message{Room: room, Type: pb.Type, Data: pb.Data, From: from}
	}
	evs, err := h.b.PublishBatch(r.Context(), msgs)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, appendEvents(nil, `{"events":`, evs, "}\n"))
}

// decodeStrict decodes one JSON value, refusing unknown fields and
// trailing data.
func decodeStrict(body []byte, v any) error {
	if len(body) == 0 {
		return badRequest("request body is empty; expected JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return badRequest("malformed JSON at byte " + itoa(se.Offset) + ": " + se.Error())
		case errors.As(err, &te):
			return badRequest("field " + strconv.Quote(te.Field) + " must be " + te.Type.String())
		}
		return badRequest("bad JSON: " + err.Error())
	}
	if dec.More() {
		return badRequest("unexpected data after the JSON value")
	}
	return nil
}

// writeJSON writes body and a newline. body may be shared (an event's
// cached JSON): it is only read.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	w.Write(body)
	if len(body) == 0 || body[len(body)-1] != '\n' {
		io.WriteString(w, "\n")
	}
}

// contentTypeJSON is the Content-Type header value of JSON answers, shared
// by all of them (Header.Set would allocate it per answer); net/http copies
// it when it writes the header, and nothing modifies it.
var contentTypeJSON = []string{"application/json"}[:1:1]

// readBody reads r's body, at most Config.MaxBodySize bytes (413 beyond),
// into a buffer of the pool, sized from Content-Length so that it is read
// without growing. Give the buffer back with putBody once nothing refers
// to its bytes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (*[]byte, error) {
	buf, _ := h.bodies.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	b := (*buf)[:0]
	if n := r.ContentLength; n >= 0 && n < h.cfg.MaxBodySize && int(n)+1 > cap(b) {
		b = make([]byte, 0, int(n)+1) // +1: the read that finds the end
	}
	rd := http.MaxBytesReader(w, r.Body, h.cfg.MaxBodySize)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			*buf = b
			return buf, nil
		}
		if err != nil {
			*buf = b
			h.putBody(buf)
			return nil, err
		}
	}
}

// maxPooledBody is the largest body buffer kept for the next request.
const maxPooledBody = 64 << 10

// putBody gives a buffer of readBody back.
func (h *Handler) putBody(buf *[]byte) {
	if cap(*buf) <= maxPooledBody {
		*buf = (*buf)[:0]
		h.bodies.Put(buf)
	}
}

// appendEvents appends prefix, a JSON array of the events' cached JSON, and
// suffix.
func appendEvents(b []byte, prefix string, evs []*broker.Event, suffix string) []byte {
	n := len(prefix) + len(suffix) + 2
	for _, ev := range evs {
		n += len(ev.JSON()) + 1
	}
	if b == nil {
		b = make([]byte, 0, n)
	}
	b = append(b, prefix...)
	b = append(b, '[')
	for i, ev := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ev.JSON()...)
	}
	b = append(b, ']')
	return append(b, suffix...)
}

// mustCompact returns data as the broker stores it (it was validated).
func mustCompact(data []byte) []byte {
	c, err := broker.CompactJSON(data)
	if err != nil {
		return data
	}
	return c
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
