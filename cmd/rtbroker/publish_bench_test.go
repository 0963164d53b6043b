package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPublishHTTP measures single-event durable publishes of a 1 KB
// body (POST /api/rooms/{room}/events) through the whole server — router,
// host guard, limits, CORS, identity, group commit, bbolt fsync in
// t.TempDir — from many keep-alive connections over loopback, beside the
// ceiling: a plain net/http server whose handler reads the body, runs
// json.Valid and answers 201. ns/op is wall time per request over all
// connections (1e9/ns-per-op = requests/s); allocs/op and B/op count the
// whole process, the client's share included (the client is a minimal
// HTTP/1.1 writer/reader that allocates nothing per request).
//
//	go test -run '^$' -bench PublishHTTP -benchtime 20000x -count 3 ./cmd/rtbroker
func BenchmarkPublishHTTP(b *testing.B) {
	for _, conns := range []int{64, 256} {
		b.Run(fmt.Sprintf("rtbroker/c%d", conns), func(b *testing.B) {
			s := startServer(b, "", "--anonymous", "--max-conns-per-ip", "0")
			benchPublish(b, strings.TrimPrefix(s.URL, "http://"), conns)
		})
		b.Run(fmt.Sprintf("ceiling/c%d", conns), func(b *testing.B) {
			benchPublish(b, startCeiling(b), conns)
		})
	}
}

// startCeiling runs the ceiling server on 127.0.0.1:0 until the end of b
// and returns its address.
func startCeiling(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(ceilingPublish), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// ceilingPublish is the least a JSON publish endpoint does: read the body,
// check it is JSON, answer 201.
func ceilingPublish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || !json.Valid(body) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, `{"ok":true}`+"\n")
}

// benchPublish sends b.N publishes to addr over conns keep-alive
// connections, each waiting for its answer before sending the next.
func benchPublish(b *testing.B, addr string, conns int) {
	b.Helper()
	reqs := make([][]byte, 64) // one request per room, prebuilt
	pad := strings.Repeat("x", 960)
	for i := range reqs {
		body := `{"type":"bench","data":{"n":` + strconv.Itoa(i) + `,"pad":"` + pad + `"}}`
		reqs[i] = []byte("POST /api/rooms/bench-" + strconv.Itoa(i) + "/events HTTP/1.1\r\nHost: " + addr +
			"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	}
	cs := make([]*rawConn, conns)
	for i := range cs {
		c, err := dialRaw(addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	// One round per connection first: connections set up, buffers grown.
	for i, c := range cs {
		if err := c.roundTrip(reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for i, c := range cs {
		wg.Go(func() {
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				if err := c.roundTrip(reqs[(int(n)+i)%len(reqs)]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	// CPU time of the whole process (server and client) per request: what
	// a busy machine does not distort the way it distorts wall time.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawConn is one keep-alive HTTP/1.1 client connection that expects 201.
type rawConn struct {
	net.Conn
	r    *bufio.Reader
	body []byte
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, r: bufio.NewReaderSize(c, 4096), body: make([]byte, 0, 4096)}, nil
}

var errNot201 = errors.New("answer is not 201")

// roundTrip writes req and reads the answer, headers and body.
func (c *rawConn) roundTrip(req []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 201 ")) {
		return fmt.Errorf("%w: %q", errNot201, line)
	}
	n := -1
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n = 0
			for _, d := range bytes.TrimSpace(v) {
				n = n*10 + int(d-'0')
			}
		}
	}
	if n < 0 {
		return errors.New("answer without Content-Length")
	}
	if cap(c.body) < n {
		c.body = make([]byte, n)
	}
	_, err = io.ReadFull(c.r, c.body[:n])
	return err
}
