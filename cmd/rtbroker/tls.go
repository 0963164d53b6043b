package main

import (
	"crypto/tls"
	"fmt"
)

// tlsConfig loads --tls-cert and --tls-key. It returns nil (plain HTTP)
// when neither is set; validate has already refused one without the
// other. The files are read once, at startup: replacing the certificate
// takes a restart.
func (c *config) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", c.TLSCert, c.TLSKey, err)
	}
	// net/http adds "h2" to NextProtos in ServeTLS, so HTTP/2 is on.
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
