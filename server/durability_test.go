package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wxsim"
)

// A Redis state store is judged by its own settings: no persistence or an
// allkeys-* eviction policy is refused for suite and component apps unless
// accepted; a user whose ACL forbids CONFIG gets "unknown", not a refusal.
func TestRedisStateDurabilityIsChecked(t *testing.T) {
	redisSrv := localserver.T(t, localserver.Redis) // runs with persistence off
	rdb := redis.NewClient(&redis.Options{Addr: redisSrv.Addr})
	defer rdb.Close()
	ctx := context.Background()
	sim := wxsim.NewServer()
	defer sim.Close()
	check := func(mutate func(*server.Config)) (server.StateDurability, error) {
		t.Helper()
		cfg := baseConfig(t, sim)
		cfg.AcceptVolatileState = false
		cfg.Cache = "redis://" + redisSrv.Addr + "/0"
		cfg.Apps = append(cfg.Apps, server.AppConfig{ID: "isv", Kind: "suite", SuiteID: "wwsuite", SecretEnv: "SHOP_SECRET"})
		if mutate != nil {
			mutate(&cfg)
		}
		srv, err := server.New(cfg, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		return srv.CheckState(ctx)
	}
	d, err := check(nil)
	if d.Verdict != server.Volatile || !errors.Is(err, server.ErrVolatileState) || !strings.Contains(err.Error(), "cache (also the state store") ||
		!strings.Contains(err.Error(), "no persistence") {
		t.Fatalf("a Redis without persistence: %+v, %v", d, err)
	}
	if d, err := check(func(c *server.Config) { c.AcceptVolatileState = true }); d.Verdict != server.Volatile || err != nil {
		t.Fatalf("accepted: %+v, %v", d, err)
	}
	if d, err := check(func(c *server.Config) { c.Apps = c.Apps[:len(c.Apps)-1] }); err != nil {
		t.Fatalf("no app keeps state: %+v, %v", d, err)
	}
	rdb.ConfigSet(ctx, "appendonly", "yes")
	if d, err := check(nil); d.Verdict != server.Durable || err != nil {
		t.Fatalf("appendonly yes: %+v, %v", d, err)
	}
	rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru")
	if d, err := check(nil); d.Verdict != server.Volatile || err == nil || !strings.Contains(err.Error(), "allkeys-lru") {
		t.Fatalf("allkeys-lru: %+v, %v", d, err)
	}
	rdb.ConfigSet(ctx, "maxmemory-policy", "volatile-lru")
	if err := rdb.Do(ctx, "ACL", "SETUSER", "limited", "on", ">limited-pw", "~*", "&*", "+@all", "-config").Err(); err != nil {
		t.Fatal(err)
	}
	d, err = check(func(c *server.Config) { c.State = "redis://limited:limited-pw@" + redisSrv.Addr + "/0" })
	if d.Verdict != server.Unknown || err != nil || !strings.Contains(d.Detail, "ACL forbids CONFIG") || strings.Contains(d.Store, "limited-pw") {
		t.Fatalf("CONFIG forbidden: %+v, %v", d, err)
	}
}
