package main

import (
	"fmt"
	"os"

	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/socketio"
)

// loadPolicy reads --policy (once) and merges it with the flags
// (auth.MergePolicy). A setting given both by a flag (or its environment
// variable) and by the file is an error, except API keys: --api-key keys
// are kept beside the file's api_keys.
func (c *config) loadPolicy() (*auth.Policy, error) {
	if c.pol != nil {
		return c.pol, nil
	}
	var f *auth.PolicyFile
	if c.Policy != "" {
		b, err := os.ReadFile(c.Policy)
		if err != nil {
			return nil, fmt.Errorf("--policy: %w", err)
		}
		if f, err = auth.ParsePolicyFile(b); err != nil {
			return nil, fmt.Errorf("--policy %s: %w", c.Policy, err)
		}
	}
	p, err := auth.MergePolicy(f, auth.PolicyFlags{
		UserSubscribe:      c.UserSubscribe,
		UserPublish:        c.UserPublish,
		AnonymousSubscribe: c.AnonymousSubscribe,
		AnonymousPublish:   c.AnonymousPublish,
		AutoJoin:           c.AutoJoin,
		ModeratorRole:      c.ModeratorRole,
		Namespaces:         c.SIONamespaces,
		Set:                c.explicit,
		LogPrefix:          func(n string) string { return socketio.NamespaceConfig{Name: n}.LogPrefix() },
	})
	if err != nil {
		if c.Policy != "" {
			return nil, fmt.Errorf("--policy %s: %w", c.Policy, err)
		}
		return nil, err
	}
	c.pol = p
	return p, nil
}

// sioNamespaces returns the Socket.IO namespaces to serve: those of
// --sio-namespaces, then the policy's, with their roles and auto-join
// rooms.
func (c *config) sioNamespaces() ([]socketio.NamespaceConfig, error) {
	p, err := c.loadPolicy()
	if err != nil {
		return nil, err
	}
	ns := make([]socketio.NamespaceConfig, len(p.Namespaces))
	for i, n := range p.Namespaces {
		ns[i] = socketio.NamespaceConfig{Name: n.Name, Role: n.Role, AutoJoin: n.AutoJoin}
	}
	return ns, nil
}
