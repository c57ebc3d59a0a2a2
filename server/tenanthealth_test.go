package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/wxsim"
)

// A tenant whose token cannot be had (here a corp that uninstalled while
// its cancel_auth push was lost, its token then revoked) shows in GET
// /v1/status, on the status page and in wxtoken_tenants_failing; the app
// itself stays healthy.
func TestFailingTenantsAreReported(t *testing.T) {
	e := tenantEnv(t)
	ctx := context.Background()
	if _, err := e.sim.DeliverSuiteTicket(ctx, "wwsuite01"); err != nil {
		t.Fatal(err)
	}
	e.waitToken("/v1/token/suite", billingKey)
	for _, corp := range []string{"wwtenant01", "wwtenant02"} {
		if _, err := e.sim.InstallCorp(ctx, "wwsuite01", corp); err != nil {
			t.Fatal(err)
		}
	}
	e.waitToken("/v1/token/suite/tenants/wwtenant01", billingKey)
	lost := e.waitToken("/v1/token/suite/tenants/wwtenant02", billingKey)
	if h := e.suiteHealth(); !h.Healthy || h.Tenants.Count != 2 || h.Tenants.FailingCount != 0 {
		t.Fatalf("status with two good tenants: %+v", h)
	}

	// The corp leaves; the notice never arrives (nothing listens on port 1).
	if err := e.sim.SetSuiteCallback("wwsuite01", wxsim.Callback{URL: "http://127.0.0.1:1/v1/callback/suite", Token: cbToken, EncodingAESKey: cbAESKey}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.UninstallCorp(ctx, "wwsuite01", "wwtenant02"); err == nil {
		t.Fatal("the cancel_auth push reached a closed port")
	}
	e.sim.Revoke(lost.AccessToken)
	if code, body := e.do("POST", "/v1/token/suite/tenants/wwtenant02/invalidate", billingKey,
		strings.NewReader(`{"access_token":"`+lost.AccessToken+`"}`)); code == 200 {
		t.Fatalf("a token for an uninstalled corp: %d %s", code, body)
	}

	h := e.suiteHealth()
	if !h.Healthy || h.Tenants.Count != 2 || h.Tenants.FailingCount != 1 || len(h.Tenants.Failing) != 1 || h.Tenants.Failing[0] != "wwtenant02" {
		t.Fatalf("status with one failing tenant: %+v", h)
	}
	if _, page := e.do("GET", "/", billingKey, nil); !strings.Contains(string(page), "2 (1 failing: wwtenant02)") {
		t.Fatal("the status page does not show the failing tenant")
	}
	_, metrics := e.do("GET", "/metrics", billingKey, nil)
	for _, want := range []string{`wxtoken_tenants{app="suite"} 2`, `wxtoken_tenants_failing{app="suite"} 1`, `wxtoken_tenants_failing{app="platform"} 0`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// suiteHealth is the "suite" app's entry in GET /v1/status.
func (e *env) suiteHealth() (h struct {
	Healthy bool `json:"healthy"`
	Tenants struct {
		Count        int      `json:"count"`
		FailingCount int      `json:"failing_count"`
		Failing      []string `json:"failing"`
	} `json:"tenants"`
}) {
	e.t.Helper()
	code, body := e.do("GET", "/v1/status", billingKey, nil)
	var v struct {
		Apps map[string]json.RawMessage `json:"apps"`
	}
	if code != 200 || json.Unmarshal(body, &v) != nil || json.Unmarshal(v.Apps["suite"], &h) != nil {
		e.t.Fatalf("GET /v1/status: %d %s", code, body)
	}
	return h
}
