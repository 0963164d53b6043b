// Command conformance is the echo server that the official Engine.IO v4
// and Socket.IO v5 protocol test suites expect at http://localhost:3000:
// an Engine.IO echo at /engine.io/ and a Socket.IO app at /socket.io/.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, log); err != nil {
		log.Error("conformance server", "err", err)
		os.Exit(1)
	}
}

func run(addr string, log *slog.Logger) error {
	// Served as rtbroker serves: idle polling POST connections wait in
	// the engine's poller and come back through its Listener.
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ln := engineio.NewListener(tcp)
	engineCfg := engineio.Config{
		PingInterval: 300 * time.Millisecond,
		PingTimeout:  200 * time.Millisecond,
		MaxPayload:   1_000_000,
		Logger:       log,
		Requeue:      ln.Requeue,
	}
	eio := engineio.NewServer(engineCfg, func(c *engineio.Conn) {
		c.OnMessage(func(data []byte, binary bool) {
			_ = c.Send(engineio.Message{Data: data, Binary: binary})
		})
	})
	sio := newSocketIO(engineCfg)
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	mux.Handle("/socket.io/", sio)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", addr)
	select {
	case err = <-errc:
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = srv.Shutdown(shutdownCtx)
		<-errc
	}
	sio.Close()
	eio.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// newSocketIO returns the Socket.IO app of the suite: on connect (to "/"
// or "/custom") it emits "auth" with the CONNECT payload, echoes
// "message" as "message-back" (binary attachments included) and
// acknowledges "message-with-ack" with its arguments.
func newSocketIO(engineCfg engineio.Config) *protocol.Server {
	sio := protocol.NewServer(protocol.Config{Engine: engineCfg, Logger: engineCfg.Logger})
	onConnect := func(s *protocol.Socket) {
		s.OnEvent(func(ev *protocol.Event) {
			switch ev.Name {
			case "message":
				_ = s.Emit("message-back", ev.EchoArgs()...)
			case "message-with-ack":
				_ = ev.Ack(ev.EchoArgs()...)
			}
		})
		_ = s.Emit("auth", s.Auth())
	}
	sio.Of("/").OnConnect(onConnect)
	sio.Of("/custom").OnConnect(onConnect)
	return sio
}
