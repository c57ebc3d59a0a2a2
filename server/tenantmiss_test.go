package server_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/server"
)

// Requests for tenants nobody has (a client polling a removed tenant, or a
// wrong id) do not each read the shared store: an instance re-reads the
// registry for them at most once a second per app, and concurrent ones
// share that read.
func TestUnknownTenantsDoNotEachReadTheStore(t *testing.T) {
	redisSrv := localserver.T(t, localserver.Redis)
	e := tenantEnv(t, func(c *server.Config) { c.Cache = "redis://" + redisSrv.Addr + "/0" })
	rdb := redis.NewClient(&redis.Options{Addr: redisSrv.Addr})
	defer rdb.Close()
	ctx := context.Background()
	e.do("GET", "/v1/token/suite/tenants/wwwarmup", billingKey, nil) // the first re-read
	before := redisGets(t, ctx, rdb)
	const requests = 200
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := range requests / 10 {
				path := fmt.Sprintf("/v1/token/suite/tenants/wwnobody%02d%03d", w, i)
				if code, body := e.do("GET", path, billingKey, nil); code != 404 {
					t.Errorf("GET %s: %d %s, want 404", path, code, body)
				}
			}
		})
	}
	wg.Wait()
	// Other reads happen meanwhile (the background registry sync and token
	// re-checks): a few, against one per request before.
	gets := redisGets(t, ctx, rdb) - before
	t.Logf("%d requests for unknown tenants: %d GETs on the store", requests, gets)
	if gets > requests/10 {
		t.Fatalf("%d requests for unknown tenants made %d GETs on the store, want a few", requests, gets)
	}
}

var getCalls = regexp.MustCompile(`cmdstat_get:calls=(\d+)`)

// redisGets returns how many GET commands the Redis server has run.
func redisGets(t *testing.T, ctx context.Context, rdb *redis.Client) int {
	t.Helper()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := getCalls.FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
