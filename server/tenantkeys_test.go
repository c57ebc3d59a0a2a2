package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/server"
)

// The tenant key is rotated: a ring with a new key first opens what the
// old key sealed and seals anew with the new one; ResealTenants moves
// every permanent code and refresh token to it; then a fleet with the new
// key alone serves every tenant and refreshes the authorizer.
func TestTenantKeyRotation(t *testing.T) {
	dir := t.TempDir()
	const newKey = "bmV3LXRlbmFudC1rZXktMzItYnl0ZXMtb2Yta2V5ISE=" // 32 bytes
	var cfg server.Config
	e := tenantEnv(t, func(c *server.Config) { c.Cache = "file://" + dir }, func(c *server.Config) { cfg = *c })
	ctx := context.Background()
	e.installCorp(ctx, "wwtenant01")
	e.waitToken("/v1/token/platform", reportsKey)
	if _, err := e.sim.AuthorizeApp(ctx, "wxcomponent01", "wxauthorizer01"); err != nil {
		t.Fatal(err)
	}
	e.waitToken("/v1/token/platform/tenants/wxauthorizer01", reportsKey)
	e.http.Close()
	e.srv.Close()

	open := func(ring string) *server.Server {
		t.Helper()
		t.Setenv("TENANT_KEY_RING", ring)
		c := cfg
		c.TenantKeyEnv = "TENANT_KEY_RING"
		srv, err := server.New(c, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		for _, app := range []string{"suite", "platform"} {
			if err := srv.LoadTenants(ctx, app); err != nil {
				t.Fatal(err)
			}
		}
		return srv
	}
	ring := open(newKey + "\n" + os.Getenv("TENANT_KEY"))
	suite, err := ring.ResealTenants(ctx, "suite")
	if err != nil || suite.Records != 1 {
		t.Fatalf("reseal of the suite: %+v %v, want 1 permanent code", suite, err)
	}
	platform, err := ring.ResealTenants(ctx, "platform")
	if err != nil || platform.RefreshTokens != 1 {
		t.Fatalf("reseal of the component: %+v %v, want 1 refresh token", platform, err)
	}
	if again, _ := ring.ResealTenants(ctx, "suite"); again.Records != 0 {
		t.Fatal("a second reseal rewrote what the newest key sealed")
	}
	ring.Close()

	fresh := open(newKey)
	h := httptest.NewServer(fresh)
	defer h.Close()
	e.http = h
	// Revoked upstream: a report makes the fleet fetch with the secret
	// sealed by the new key.
	for _, path := range []string{"/v1/token/suite/tenants/wwtenant01", "/v1/token/platform/tenants/wxauthorizer01"} {
		tok := e.waitToken(path, reportsKeyOr(path))
		e.sim.Revoke(tok.AccessToken)
		code, body := e.do("POST", path+"/invalidate", reportsKeyOr(path), strings.NewReader(`{"access_token":"`+tok.AccessToken+`"}`))
		if got := decode(t, body); code != 200 || !e.sim.Valid(got.AccessToken) {
			t.Fatalf("a refresh with the new key alone, %s: %d %s", path, code, body)
		}
	}
}

// reportsKeyOr picks a client allowed on the app of path: the component
// is restricted to "reports".
func reportsKeyOr(path string) string {
	if strings.Contains(path, "/platform") {
		return reportsKey
	}
	return billingKey
}
