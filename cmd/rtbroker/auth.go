package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

// authenticator builds the one Authenticator every gateway checks, from
// the security flags. With --jwks-url it fetches the key set first and
// fails when it cannot; the returned close stops the set's refresher (it
// is a no-op otherwise) and must be called after the gateways are closed.
func (c *config) authenticator(ctx context.Context, log *slog.Logger) (*auth.Authenticator, func(), error) {
	pol, err := c.loadPolicy()
	if err != nil {
		return nil, nil, err
	}
	ac := auth.Config{
		Algorithm:            c.JWTAlg,
		Leeway:               c.JWTLeeway,
		Issuer:               c.JWTIssuer,
		Audience:             c.JWTAudience,
		APIKeys:              c.APIKeys,
		Keys:                 pol.Keys,
		AnonymousPermissions: pol.Anonymous,
		UserPermissions:      pol.Users,
		RolePermissions:      pol.Roles,
		AdminRole:            c.AdminRole,
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
			return nil, nil, fmt.Errorf("--jwt-public-key: %w", err)
		}
		k, err := auth.ParsePublicKey(pemBytes)
		if err != nil {
			return nil, nil, fmt.Errorf("--jwt-public-key %s: %w", c.JWTPublicKey, err)
		}
		ac.PublicKeys = append(ac.PublicKeys, k)
	}
	closeFn := func() {}
	if c.JWKSURL != "" {
		j, err := auth.NewJWKS(ctx, auth.JWKSConfig{URL: c.JWKSURL, Refresh: c.JWKSRefresh, Algorithm: c.JWTAlg, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("--jwks-url: %w", err)
		}
		ac.JWKS, closeFn = j, j.Close
	}
	if c.JWTAlg != "" && ac.Secrets == nil && ac.PublicKeys == nil && ac.JWKS == nil {
		return nil, nil, fmt.Errorf("--jwt-alg %s needs --jwt-secret or --jwt-public-key", c.JWTAlg)
	}
	ac.Anonymous = len(ac.Secrets) == 0 && len(ac.PublicKeys) == 0 && len(ac.APIKeys) == 0 && len(ac.Keys) == 0 && ac.JWKS == nil
	if c.Anonymous != nil {
		ac.Anonymous = *c.Anonymous
	}
	if pol.AnonymousInFile && !ac.Anonymous {
		log.Warn("the policy file sets anonymous permissions, but anonymous access is off (--anonymous)")
	}
	a, err := auth.New(ac)
	if err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("security flags: %w", err)
	}
	return a, closeFn, nil
}
