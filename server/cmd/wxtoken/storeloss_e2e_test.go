package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/wxsim"
)

// lossFleet is two `wxtoken serve` processes on one Redis with a suite
// and a component whose callbacks the simulator pushes to, one corp
// installed and one account authorized through encrypted callbacks, both
// served by both servers.
type lossFleet struct {
	sim   *wxsim.Server
	redis *localserver.Server
	urls  []string
}

const (
	lossSuite     = "wwsuitee2e01"
	lossComponent = "wxcompe2e0001"
	lossCorp      = "wwtenantloss1"
	lossAuthz     = "wxauthloss001"
	lossCorpPath  = "/v1/token/suite/tenants/" + lossCorp
	lossAuthzPath = "/v1/token/platform/tenants/" + lossAuthz
)

func newLossFleet(t *testing.T) *lossFleet {
	t.Helper()
	f := &lossFleet{redis: localserver.T(t, localserver.Redis), sim: wxsim.NewServer()}
	t.Cleanup(f.sim.Close)
	f.sim.AddSuite(lossSuite, "e2e-secret")
	f.sim.AddComponent(lossComponent, "e2e-secret")
	f.urls = tenantServerURLs(t)[:2]
	for _, err := range []error{
		f.sim.SetSuiteCallback(lossSuite, wxsim.Callback{URL: f.urls[1] + "/v1/callback/suite", Token: cbTokenE2E, EncodingAESKey: cbAESKeyE2E}),
		f.sim.SetComponentCallback(lossComponent, wxsim.Callback{URL: f.urls[0] + "/v1/callback/platform", Token: cbTokenE2E, EncodingAESKey: cbAESKeyE2E}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	startTenantServers(t, f.urls, f.redis.Addr, f.sim.URL)
	ctx := context.Background()
	if _, err := f.sim.DeliverSuiteTicket(ctx, lossSuite); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sim.InstallCorp(ctx, lossSuite, lossCorp); err != nil {
		t.Fatal(err)
	}
	onEvery(t, f.urls, "/v1/token/platform", 200, 10*time.Second) // asks for the first ticket push
	if _, err := f.sim.AuthorizeApp(ctx, lossComponent, lossAuthz); err != nil {
		t.Fatal(err)
	}
	onEvery(t, f.urls, lossCorpPath, 200, 5*time.Second)
	onEvery(t, f.urls, lossAuthzPath, 200, 5*time.Second)
	return f
}

// flush empties the Redis the fleet shares, as a restart without
// persistence, a failover that lost writes or an eviction does.
func (f *lossFleet) flush(t *testing.T) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: f.redis.Addr})
	defer rdb.Close()
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

// tenantIDs returns the tenant list one server answers for app.
func tenantIDs(t *testing.T, base, app string) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/token/"+app+"/tenants", nil)
	req.Header.Set("Authorization", "Bearer "+e2eKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Tenants []struct {
			ID string `json:"id"`
		} `json:"tenants"`
	}
	json.NewDecoder(resp.Body).Decode(&v)
	var ids []string
	for _, x := range v.Tenants {
		ids = append(ids, x.ID)
	}
	return ids
}

// healed checks, for within, that every server keeps serving both
// tenants (a 404 at any moment is a lost tenant), and then that every
// server's tenant list names them.
func (f *lossFleet) healed(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, u := range f.urls {
			for _, p := range []string{lossCorpPath, lossAuthzPath} {
				if code, _ := get(t, u, p); code != 200 {
					t.Fatalf("%s answered %d for GET %s after the store lost its data", u, code, p)
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, u := range f.urls {
		if ids := tenantIDs(t, u, "suite"); strings.Join(ids, ",") != lossCorp {
			t.Fatalf("%s lists the suite's tenants as %v, want [%s]", u, ids, lossCorp)
		}
		if ids := tenantIDs(t, u, "platform"); strings.Join(ids, ",") != lossAuthz {
			t.Fatalf("%s lists the component's tenants as %v, want [%s]", u, ids, lossAuthz)
		}
	}
}

// forceRefresh revokes the tenant's token upstream and reports it through
// one server: the fleet must fetch a new one, which takes the corp's
// permanent code or the authorizer's refresh token.
func (f *lossFleet) forceRefresh(t *testing.T, path string) {
	t.Helper()
	_, tok := get(t, f.urls[0], path)
	if !f.sim.Revoke(tok) {
		t.Fatalf("GET %s served a token upstream does not know", path)
	}
	req, _ := http.NewRequest("POST", f.urls[0]+path+"/invalidate", strings.NewReader(`{"access_token":"`+tok+`"}`))
	req.Header.Set("Authorization", "Bearer "+e2eKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		AccessToken string `json:"access_token"`
		ErrMsg      string `json:"errmsg"`
	}
	json.NewDecoder(resp.Body).Decode(&v)
	if resp.StatusCode != 200 || v.AccessToken == tok || !f.sim.Valid(v.AccessToken) {
		t.Fatalf("a forced refresh of %s answered %d %q: the tenant's secret did not survive", path, resp.StatusCode, v.ErrMsg)
	}
}

// The shared store loses everything while two servers serve a corp and
// an authorizer: the servers re-publish what they hold, keep serving both
// tenants, list them again, and can still refresh both.
func TestTenantsSurviveStoreFlush(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	f := newLossFleet(t)
	f.flush(t)
	f.healed(t, 15*time.Second)
	f.forceRefresh(t, lossCorpPath)
	f.forceRefresh(t, lossAuthzPath)
}
