package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/sse"
)

const tailSynopsis = `rtbroker tail ROOM [--after N] [--server URL] [--json] [--token T | --api-key K]

Follows ROOM live on a running server (over SSE, GET /sse) and prints one
line per event: offset, time, type, sender and data; with --json, each
event as a JSON object (NDJSON, the shape of the HTTP API), and a reset as
{"reset":{…}}. Without --after it starts at the head (new events only);
--after 0 replays everything retained first. When the connection drops it
reconnects and resumes after the last offset printed, so no event is
missed or printed twice; when the server cannot resume there (retention
removed the events, or the log is another one) the server's reset is
reported on stderr and the tail goes on from where the server resumes.
Ephemeral events (typing, presence) are not printed. Ctrl-C or SIGTERM
ends it with status 0.`

// tailBackoff bounds the wait before a reconnection.
const (
	tailMinBackoff = 250 * time.Millisecond
	tailMaxBackoff = 5 * time.Second
)

// tailIdle is how long a stream may stay silent, heartbeats included,
// before the tail takes the connection for dead and reconnects: four of
// the server's default heartbeat intervals (sse.DefaultHeartbeat).
const tailIdle = 4 * sse.DefaultHeartbeat

// tailer is one rtbroker tail.
type tailer struct {
	sf     serverFlags
	room   string
	json   bool
	after  uint64 // the last offset printed (or the start position)
	out    *bufio.Writer
	stderr io.Writer
	client *http.Client
}

// runTail is `rtbroker tail`.
func runTail(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cmdFlags("tail", tailSynopsis, stderr)
	after := fs.Int64("after", -1, "print the events after this offset first (0: everything retained; default: only new events)")
	jsonOut := fs.Bool("json", false, "print each event as a JSON object (NDJSON)")
	t := &tailer{stderr: stderr, client: &http.Client{}}
	t.sf.add(fs, getenv, "the running server's URL (default localhost:8080)", true, true)
	// The room may come before or after the flags.
	var room string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		room, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if room == "" && fs.NArg() > 0 {
		room = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("tail: unexpected argument %q", fs.Arg(0))
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("tail: unexpected argument %q", fs.Arg(1))
	}
	if room == "" {
		fs.Usage()
		return errors.New("tail: a ROOM is required")
	}
	if err := broker.ValidateRoom(room); err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	if t.sf.server == "" {
		t.sf.server = "localhost:8080"
	}
	t.room, t.json, t.out = room, *jsonOut, bufio.NewWriter(stdout)
	if *after >= 0 {
		t.after = uint64(*after)
	} else {
		head, err := t.head(ctx)
		if err != nil {
			return fmt.Errorf("tail: %w", err)
		}
		t.after = head
	}
	return t.run(ctx)
}

// head returns the log's head, where a tail without --after starts.
func (t *tailer) head(ctx context.Context) (uint64, error) {
	req, err := t.sf.request(http.MethodGet, "/api/rooms/"+url.PathEscape(t.room)+"/events", url.Values{"before": {"0"}, "limit": {"1"}}, nil)
	if err != nil {
		return 0, err
	}
	resp, err := t.client.Do(req.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, serverError(resp)
	}
	defer resp.Body.Close()
	var page struct {
		Head uint64 `json:"head"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return 0, fmt.Errorf("the server's history answer: %w", err)
	}
	return page.Head, nil
}

// run follows the room until ctx ends (nil) or the server refuses the
// stream (an error).
func (t *tailer) run(ctx context.Context) error {
	backoff := tailMinBackoff
	for {
		got, retry, err := t.stream(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var fatal *tailRefused
		if errors.As(err, &fatal) {
			return fmt.Errorf("tail: %w", err)
		}
		if got {
			backoff = tailMinBackoff
		}
		if retry > 0 {
			backoff = retry
		}
		fmt.Fprintf(t.stderr, "rtbroker tail: connection lost (%v); reconnecting after offset %d\n", err, t.after)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, tailMaxBackoff)
	}
}

// tailRefused is an answer the tail does not retry (401, 403, 404, 400).
type tailRefused struct{ err error }

func (e *tailRefused) Error() string { return e.err.Error() }

// stream reads one SSE connection until it ends. got reports whether an
// event came; retry is the server's retry: field, if any.
func (t *tailer) stream(ctx context.Context) (got bool, retry time.Duration, err error) {
	req, err := t.sf.request(http.MethodGet, "/sse", url.Values{"room": {t.room}, "after": {strconv.FormatUint(t.after, 10)}}, nil)
	if err != nil {
		return false, 0, &tailRefused{err}
	}
	req.Header.Set("Accept", "text/event-stream")
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(tailIdle, cancel) // a silent connection is dead
	defer idle.Stop()
	defer func() {
		if err != nil && sctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("nothing received for %s, not even a heartbeat", tailIdle)
		}
	}()
	resp, err := t.client.Do(req.WithContext(sctx))
	if err != nil {
		return false, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := serverError(resp)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
			return false, 0, &tailRefused{err}
		}
		return false, 0, err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), cliMaxLine)
	var event, data string
	for sc.Scan() {
		idle.Reset(tailIdle)
		line := sc.Text()
		switch {
		case line == "":
			if data != "" {
				ok, err := t.frame(event, data)
				if err != nil {
					return got, retry, err
				}
				got = got || ok
			}
			event, data = "", ""
		case strings.HasPrefix(line, ":"): // a comment (heartbeat)
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			d := strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
			if data != "" {
				data += "\n"
			}
			data += d
		case strings.HasPrefix(line, "retry:"):
			if ms, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "retry:"))); err == nil {
				retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := sc.Err(); err != nil {
		return got, retry, err
	}
	return got, retry, io.EOF
}

// frame prints one SSE frame: an event, or a reset. It reports whether
// it printed an event.
func (t *tailer) frame(event, data string) (bool, error) {
	if event == "reset" {
		var r struct {
			Reason    string `json:"reason"`
			Room      string `json:"room"`
			Requested uint64 `json:"requested"`
			Resume    uint64 `json:"resume"`
			Epoch     string `json:"epoch"`
		}
		if err := json.Unmarshal([]byte(data), &r); err != nil {
			return false, fmt.Errorf("a reset that is not JSON: %w", err)
		}
		why := "retention removed the events after it"
		if r.Reason != "trimmed" {
			why = "it is not a position of the server's log (another epoch, or beyond its head)"
		}
		fmt.Fprintf(t.stderr, "rtbroker tail: reset (%s): the server cannot resume after offset %d: %s; continuing after offset %d (epoch %s)\n",
			r.Reason, r.Requested, why, r.Resume, r.Epoch)
		if t.json {
			fmt.Fprintf(t.out, "{\"reset\":%s}\n", data)
			t.out.Flush()
		}
		t.after = r.Resume
		return false, nil
	}
	var ev struct {
		Offset    uint64          `json:"offset"`
		Ephemeral bool            `json:"ephemeral"`
		Type      string          `json:"type"`
		Data      json.RawMessage `json:"data"`
		Time      string          `json:"time"`
		From      string          `json:"from"`
	}
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		return false, fmt.Errorf("an event that is not JSON: %w", err)
	}
	if ev.Ephemeral || ev.Offset == 0 || ev.Offset <= t.after {
		return false, nil
	}
	if t.json {
		t.out.WriteString(data)
		t.out.WriteByte('\n')
	} else {
		fmt.Fprintf(t.out, "%d %s %s %s %s\n", ev.Offset, ev.Time, ev.Type, orDash(ev.From), ev.Data)
	}
	t.after = ev.Offset
	return true, t.out.Flush()
}

// orDash is s, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
