package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/httpapi"
	"github.com/rtbroker/rtbroker/gateways/longpoll"
	"github.com/rtbroker/rtbroker/gateways/socketio"
	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
	"github.com/rtbroker/rtbroker/gateways/sse"
	"github.com/rtbroker/rtbroker/gateways/typing"
	"github.com/rtbroker/rtbroker/storage/bolt"
	"github.com/rtbroker/rtbroker/storage/jetstream"
	"github.com/rtbroker/rtbroker/storage/jetstream/natsnode"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(*config) bool
		wantErr string
	}{
		{name: "defaults", check: func(c *config) bool {
			return c.Addr == ":8080" && c.Data == "./data" && c.PollTimeout == 25*time.Second && c.RetentionMaxCount == 0
		}},
		{name: "flag", args: []string{"--addr", "127.0.0.1:9000", "--data", "/tmp/x"}, check: func(c *config) bool { return c.Addr == "127.0.0.1:9000" && c.Data == "/tmp/x" }},
		{name: "env", env: map[string]string{"RTBROKER_ADDR": ":9001", "RTBROKER_RETENTION_MAX_AGE": "72h", "RTBROKER_MAX_BODY_SIZE": "4096"}, check: func(c *config) bool {
			return c.Addr == ":9001" && c.RetentionMaxAge == 72*time.Hour && c.MaxBodySize == 4096
		}},
		{name: "flag wins over env", args: []string{"--addr", ":1"}, env: map[string]string{"RTBROKER_ADDR": ":2"}, check: func(c *config) bool { return c.Addr == ":1" }},
		{name: "bad env value", env: map[string]string{"RTBROKER_TAIL_SIZE": "many"}, wantErr: "RTBROKER_TAIL_SIZE"},
		{name: "bad flag value", args: []string{"--poll-timeout", "soon"}, wantErr: "poll-timeout"},
		{name: "invalid limit", args: []string{"--max-rooms", "0"}, wantErr: "--max-rooms must be positive"},
		{name: "invalid history limit", args: []string{"--max-history", "0"}, wantErr: "--max-history must be positive"},
		{name: "no idle timeout", args: []string{"--idle-timeout", "0"}, wantErr: "--idle-timeout must be positive"},
		{name: "poll timeout above max", args: []string{"--poll-timeout", "2m"}, wantErr: "--poll-timeout"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		{name: "limit defaults", check: func(c *config) bool {
			return c.connectPerSec == 50 && c.ConnectBurst == 200 && c.SIOMaxPending == 64
		}},
		{name: "connect rate off", env: map[string]string{"RTBROKER_CONNECT_RATE": "0"}, check: func(c *config) bool { return c.connectPerSec == 0 }},
		{name: "bad connect rate", args: []string{"--connect-rate", "20"}, wantErr: "--connect-rate"},
		{name: "memory release on by default", check: func(c *config) bool { return c.MemoryRelease }},
		{name: "memory release off", args: []string{"--memory-release=false"}, check: func(c *config) bool { return !c.MemoryRelease }},
		{name: "memory release off by env", env: map[string]string{"RTBROKER_MEMORY_RELEASE": "false"}, check: func(c *config) bool { return !c.MemoryRelease }},
		{name: "busy GC pace on by default", check: func(c *config) bool { return c.BusyGCPercent == defaultBusyGCPercent }},
		{name: "busy GC pace set", args: []string{"--busy-gc-percent=300"}, check: func(c *config) bool { return c.BusyGCPercent == 300 }},
		{name: "busy GC pace off under GOGC", args: []string{"--busy-gc-percent=300"}, env: map[string]string{"GOGC": "50"}, check: func(c *config) bool { return c.BusyGCPercent == 0 }},
		{name: "no pending acks", args: []string{"--sio-max-pending", "0"}, wantErr: "--sio-max-pending must be positive"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected argument"},
		{name: "jetstream store", args: []string{"--store", "jetstream", "--nats-url", "nats://127.0.0.1:4222"}, check: func(c *config) bool {
			return c.Store == storeJetStream && c.NATSURL == "nats://127.0.0.1:4222" && c.NATSReplicas == 0 && !c.embedded()
		}},
		{name: "jetstream store without a URL embeds NATS", args: []string{"--store", "jetstream"}, check: func(c *config) bool { return c.embedded() && c.nats.peerCount() == 1 }},
		{name: "nats-embedded implies the jetstream store", args: []string{"--nats-embedded"}, check: func(c *config) bool { return c.Store == storeJetStream && c.embedded() }},
		{name: "nats-embedded with the bolt store", args: []string{"--nats-embedded", "--store", "bolt"}, wantErr: "--nats-embedded needs --store jetstream"},
		{name: "nats-embedded with a URL", args: []string{"--nats-embedded", "--nats-url", "nats://127.0.0.1:4222"}, wantErr: "exclude each other"},
		{name: "embedded cluster", args: []string{"--nats-embedded", "--cluster-listen", "127.0.0.1:6222", "--cluster-peers", "nats://127.0.0.1:6222,127.0.0.1:6223,nats://127.0.0.1:6224"}, check: func(c *config) bool {
			return c.nats.peerCount() == 3 && c.replicas(nil) == 3 && c.nats.ClusterName == "rtbroker"
		}},
		{name: "embedded cluster from the environment", env: map[string]string{"RTBROKER_STORE": "jetstream", "RTBROKER_CLUSTER_LISTEN": "127.0.0.1:6222", "RTBROKER_CLUSTER_PEERS": "127.0.0.1:6223", "RTBROKER_NATS_REPLICAS": "1"}, check: func(c *config) bool {
			return c.nats.peerCount() == 2 && c.replicas(nil) == 1
		}},
		{name: "cluster listen without peers", args: []string{"--nats-embedded", "--cluster-listen", "127.0.0.1:6222"}, wantErr: "--cluster-listen and --cluster-peers go together"},
		{name: "bad peer", args: []string{"--nats-embedded", "--cluster-listen", "127.0.0.1:6222", "--cluster-peers", "nats://nohost"}, wantErr: "--cluster-peers"},
		{name: "cluster flags need the embedded server", args: []string{"--store", "jetstream", "--nats-url", "nats://127.0.0.1:4222", "--cluster-listen", "127.0.0.1:6222"}, wantErr: "--cluster-listen is a setting of the embedded NATS server"},
		{name: "cluster flags with bolt", args: []string{"--cluster-peers", "127.0.0.1:6222"}, wantErr: "--cluster-peers is a setting of the embedded NATS server"},
		{name: "credentials need a URL", args: []string{"--nats-embedded", "--nats-token", "t"}, wantErr: "--nats-token is a setting of the connection to --nats-url"},
		{name: "user without password", args: []string{"--store", "jetstream", "--nats-url", "nats://127.0.0.1:4222", "--nats-user", "u"}, wantErr: "--nats-user and --nats-password go together"},
		{name: "cert without key", args: []string{"--store", "jetstream", "--nats-url", "nats://127.0.0.1:4222", "--nats-cert", "c.pem"}, wantErr: "--nats-cert and --nats-key go together"},
		{name: "creds and token", args: []string{"--store", "jetstream", "--nats-url", "nats://127.0.0.1:4222", "--nats-creds", "x.creds", "--nats-token", "t"}, wantErr: "--nats-creds excludes"},
		{name: "too many replicas", args: []string{"--store", "jetstream", "--nats-url", "nats://127.0.0.1:4222", "--nats-replicas", "7"}, wantErr: "--nats-replicas"},
		{name: "unknown store", args: []string{"--store", "redis"}, wantErr: "--store must be bolt or jetstream"},
		{name: "presence node TTL too short", args: []string{"--presence-node-ttl", "1s"}, wantErr: "--presence-node-ttl must be at least 3s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig("serve", tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config = %+v", c)
			}
		})
	}
}

func TestHelpListsEnvNames(t *testing.T) {
	var out strings.Builder
	_, err := parseConfig("serve", []string{"-h"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"--addr", "RTBROKER_ADDR", "--retention-max-count", "RTBROKER_RETENTION_MAX_COUNT"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help does not mention %s:\n%s", want, out.String())
		}
	}
}

// TestFlagDefaultsArePackageDefaults: an empty command line gives every
// setting the default its package applies to a zero field, so that
// `rtbroker serve` and a Go program using the packages behave alike. A
// setting several gateways share has one default in all of them.
func TestFlagDefaultsArePackageDefaults(t *testing.T) {
	c, err := parseConfig("serve", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{name: "tail-size", got: c.TailSize, want: broker.DefaultTailSize},
		{name: "max-batch", got: c.MaxBatch, want: broker.DefaultMaxBatch},
		{name: "journal-size", got: c.JournalSize, want: int64(bolt.DefaultJournalSize)},
		{name: "max-data-size", got: c.MaxDataSize, want: broker.DefaultMaxDataSize},
		{name: "retention-interval", got: c.RetentionInterval, want: broker.DefaultRetentionInterval},
		{name: "max-body-size", got: c.MaxBodySize, want: int64(httpapi.DefaultMaxBodySize)},
		{name: "poll-timeout", got: c.PollTimeout, want: longpoll.DefaultHold},
		{name: "poll-max-timeout", got: c.PollMaxTimeout, want: longpoll.DefaultMaxTimeout},
		{name: "sse-heartbeat", got: c.SSEHeartbeat, want: sse.DefaultHeartbeat},
		{name: "sse-retry", got: c.SSERetry, want: sse.DefaultRetry},
		{name: "write-timeout sse", got: c.WriteTimeout, want: sse.DefaultWriteTimeout},
		{name: "write-timeout longpoll", got: c.WriteTimeout, want: longpoll.DefaultWriteTimeout},
		{name: "write-timeout engineio", got: c.WriteTimeout, want: engineio.DefaultWriteTimeout},
		{name: "idle-timeout", got: c.IdleTimeout, want: engineio.DefaultIdleTimeout},
		{name: "max-rooms sse", got: c.MaxRooms, want: sse.DefaultMaxRooms},
		{name: "max-rooms longpoll", got: c.MaxRooms, want: longpoll.DefaultMaxRooms},
		{name: "max-rooms socketio", got: c.MaxRooms, want: socketio.DefaultMaxRooms},
		{name: "max-history sse", got: c.MaxHistory, want: sse.DefaultMaxHistory},
		{name: "max-history longpoll", got: c.MaxHistory, want: longpoll.DefaultMaxHistory},
		{name: "max-history socketio", got: c.MaxHistory, want: socketio.DefaultMaxHistory},
		{name: "typing-timeout", got: c.TypingTimeout, want: typing.DefaultTimeout},
		{name: "max-typists", got: c.MaxTypists, want: typing.DefaultMaxTypists},
		{name: "sio-ping-interval", got: c.SIOPingInterval, want: engineio.DefaultPingInterval},
		{name: "sio-ping-timeout", got: c.SIOPingTimeout, want: engineio.DefaultPingTimeout},
		{name: "sio-max-payload", got: c.SIOMaxPayload, want: int64(engineio.DefaultMaxPayload)},
		{name: "sio-max-pending", got: c.SIOMaxPending, want: socketio.DefaultMaxPending},
		{name: "sio-namespaces", got: fmt.Sprint(c.SIONamespaces), want: "[/]"},
		{name: "jwks-refresh", got: c.JWKSRefresh, want: auth.DefaultJWKSRefresh},
		{name: "jwt-leeway", got: c.JWTLeeway, want: auth.DefaultLeeway},
		{name: "cluster-name", got: c.nats.ClusterName, want: natsnode.DefaultClusterName},
		{name: "nats-start-timeout", got: c.nats.StartTimeout, want: natsnode.DefaultStartTimeout},
		{name: "presence-node-ttl", got: c.PresenceNodeTTL, want: jetstream.DefaultNodeTTL},
		{name: "memory-release", got: c.MemoryRelease, want: defaultMemoryRelease},
		{name: "busy-gc-percent", got: c.BusyGCPercent, want: defaultBusyGCPercent},
		{name: "nats-timeout", got: c.nats.Timeout, want: jetstream.DefaultAckTimeout},
		{name: "nats-timeout socketio", got: c.nats.Timeout < socketio.DefaultPublishTimeout, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("--%s defaults to %v, its package to %v", tc.name, tc.got, tc.want)
			}
		})
	}
}
