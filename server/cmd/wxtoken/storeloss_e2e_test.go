package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	cmds  []*exec.Cmd
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
	f.cmds = startTenantServers(t, f.urls, f.redis.Addr, f.sim.URL)
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

// restartStore restarts the fleet's Redis, which runs without
// persistence: every key is gone when it answers again.
func (f *lossFleet) restartStore(t *testing.T) {
	t.Helper()
	if err := f.redis.Restart(); err != nil {
		t.Fatal(err)
	}
}

// restartEverything stops every server, restarts the store (losing
// everything) and starts the servers again: nothing holds the tenants.
func (f *lossFleet) restartEverything(t *testing.T) {
	t.Helper()
	for _, c := range f.cmds {
		stopServer(c)
	}
	f.restartStore(t)
	f.cmds = startTenantServers(t, f.urls, f.redis.Addr, f.sim.URL)
}

// wxtoken runs one wxtoken command against the fleet's config, as an
// operator would, and returns its output.
func (f *lossFleet) wxtoken(t *testing.T, args ...string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "ops.yaml")
	os.WriteFile(cfg, []byte(tenantServerConfig("127.0.0.1:0", f.redis.Addr, f.sim.URL)), 0o600)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(tenantServerEnv(), "WXTOKEN_E2E_ARGS="+strings.Join(append(args, "--config", cfg), " "))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("wxtoken %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
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
// an authorizer (flushed, or restarted without persistence): the servers
// re-publish what they hold, keep serving both tenants, list them again,
// and can still refresh both.
func TestTenantsSurviveStoreLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	for name, lose := range map[string]func(*lossFleet, *testing.T){
		"Flush":   (*lossFleet).flush,
		"Restart": (*lossFleet).restartStore,
	} {
		t.Run(name, func(t *testing.T) {
			f := newLossFleet(t)
			lose(f, t)
			f.healed(t, 15*time.Second)
			f.forceRefresh(t, lossCorpPath)
			f.forceRefresh(t, lossAuthzPath)
		})
	}
}

// The store and every instance restart: nothing holds the tenants any
// more. The fleet recovers the authorizer from the Open Platform by
// itself; the corp (WeCom cannot list corps) comes back from the export
// taken before.
func TestTenantsRecoveredAfterEverythingRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	f := newLossFleet(t)
	backup := filepath.Join(t.TempDir(), "suite-tenants.json")
	f.wxtoken(t, "tenants", "export", "--app", "suite", "--out", backup)
	raw, _ := os.ReadFile(backup)
	if code := f.sim.PermanentCode(lossSuite, lossCorp); code == "" || strings.Contains(string(raw), code) {
		t.Fatal("the export holds the permanent code in plaintext")
	}
	f.restartEverything(t)
	// The suite's ticket went with the store, and no instance holds it:
	// the suite's token waits for WeCom's next push (every 10 minutes).
	if _, err := f.sim.DeliverSuiteTicket(context.Background(), lossSuite); err != nil {
		t.Fatal(err)
	}
	onEvery(t, f.urls, lossAuthzPath, 200, 20*time.Second)
	if code, _ := get(t, f.urls[0], lossCorpPath); code != 404 {
		t.Fatalf("the corp is served (%d) before its export was imported", code)
	}
	out := f.wxtoken(t, "tenants", "import", "--app", "suite", "--in", backup)
	if !strings.Contains(out, "imported 1 tenant records") {
		t.Fatalf("import said: %s", out)
	}
	onEvery(t, f.urls, lossCorpPath, 200, 5*time.Second)
	if out := f.wxtoken(t, "tenants", "import", "--app", "suite", "--in", backup); !strings.Contains(out, "imported 0 tenant records") {
		t.Fatalf("a second import of the same export said: %s", out)
	}
	f.healed(t, 2*time.Second)
	f.forceRefresh(t, lossCorpPath)
	f.forceRefresh(t, lossAuthzPath)
}
