package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// runHealthcheck asks a running server's /healthz and succeeds when it
// answers 200: the HEALTHCHECK of a container image that has no curl
// (packaging/Dockerfile). Without --url it asks the server this
// environment and --config file configure (--addr, on the loopback
// address when it listens on all; HTTPS with --tls-cert).
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: rtbroker healthcheck [--url URL] [--timeout D]\n\nExits 0 when the server answers 200, 1 otherwise (a container HEALTHCHECK).\n\n")
		fs.PrintDefaults()
	}
	target := fs.String("url", "", "`URL` to ask (default: /healthz of the server the environment and RTBROKER_CONFIG configure)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	client := &http.Client{Timeout: *timeout}
	if *target == "" {
		c, _, err := loadConfig("healthcheck", nil, getenv, io.Discard)
		if err != nil {
			return err
		}
		u, err := healthURL(c)
		if err != nil {
			return err
		}
		*target = u
		if c.TLSCert != "" {
			// The server's certificate names its public host, not the
			// loopback address asked here; nothing secret is sent and the
			// answer only sets a health status.
			client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // see above
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return unhealthy{err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(stdout, "%d %s", resp.StatusCode, body)
	if resp.StatusCode != http.StatusOK {
		return unhealthy{errors.New(*target + ": " + resp.Status)}
	}
	return nil
}

// unhealthy is a failed health check: the process exits 1, which a
// container runtime reads as unhealthy (2 is reserved there, and is what
// a usage error exits with).
type unhealthy struct{ error }

func (unhealthy) ExitCode() int   { return 1 }
func (u unhealthy) Unwrap() error { return u.error }

// healthURL is the /healthz URL of the server c configures.
func healthURL(c *config) (string, error) {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return "", fmt.Errorf("--addr %q: %w", c.Addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/healthz", nil
}
