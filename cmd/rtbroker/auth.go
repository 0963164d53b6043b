package main

import (
	"fmt"
	"os"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

// authenticator builds the one Authenticator every gateway checks, from
// the security flags.
func (c *config) authenticator() (*auth.Authenticator, error) {
	ac := auth.Config{
		Algorithm: c.JWTAlg,
		Leeway:    c.JWTLeeway,
		Issuer:    c.JWTIssuer,
		Audience:  c.JWTAudience,
		APIKeys:   c.APIKeys,
		AnonymousPermissions: auth.Permissions{
			Subscribe: c.AnonymousSubscribe,
			History:   c.AnonymousSubscribe,
			Presence:  c.AnonymousSubscribe,
			Publish:   c.AnonymousPublish,
		},
	}
	if c.JWTLeeway == 0 {
		ac.Leeway = -1 // explicitly none
	}
	if c.JWTSecret != "" {
		ac.Secrets = [][]byte{[]byte(c.JWTSecret)}
	}
	if c.JWTPublicKey != "" {
		pemBytes, err := os.ReadFile(c.JWTPublicKey)
		if err != nil {
			return nil, fmt.Errorf("--jwt-public-key: %w", err)
		}
		k, err := auth.ParsePublicKey(pemBytes)
		if err != nil {
			return nil, fmt.Errorf("--jwt-public-key %s: %w", c.JWTPublicKey, err)
		}
		ac.PublicKeys = append(ac.PublicKeys, k)
	}
	if c.JWTAlg != "" && ac.Secrets == nil && ac.PublicKeys == nil {
		return nil, fmt.Errorf("--jwt-alg %s needs --jwt-secret or --jwt-public-key", c.JWTAlg)
	}
	ac.Anonymous = len(ac.Secrets) == 0 && len(ac.PublicKeys) == 0 && len(ac.APIKeys) == 0
	if c.Anonymous != nil {
		ac.Anonymous = *c.Anonymous
	}
	a, err := auth.New(ac)
	if err != nil {
		return nil, fmt.Errorf("security flags: %w", err)
	}
	return a, nil
}
