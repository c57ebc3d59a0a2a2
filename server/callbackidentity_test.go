package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/server"
)

// A corp installed through the suite that is also configured as a corp
// app (limited to the reports client) is served only as that app: before,
// the two shared one Manager entry, and billing, refused on the app, got
// the same token from the tenant route.
func TestTenantThatIsAConfiguredAppIsServedOnlyAsTheApp(t *testing.T) {
	e := tenantEnv(t, func(c *server.Config) {
		c.Apps = append(c.Apps, server.AppConfig{ID: "tenant-a", Kind: "corp", Suite: "suite", CorpID: "wwtenant01",
			SecretEnv: "SUITE_SECRET", Clients: []string{"reports"}})
	})
	ctx := context.Background()
	e.suiteReady(ctx)
	if _, err := e.sim.InstallCorp(ctx, "wwsuite01", "wwtenant01"); err != nil {
		t.Fatal(err)
	}
	e.waitToken("/v1/token/suite/tenants", billingKey)
	code, body := e.do("GET", "/v1/token/suite/tenants/wwtenant01", billingKey, nil)
	if code != 403 || !strings.Contains(string(body), "tenant-a") {
		t.Fatalf("rule: a tenant that is a configured app is served only as that app; billing on the tenant route: %d %s", code, body)
	}
	if code, _ := e.do("GET", "/v1/token/tenant-a", billingKey, nil); code != 403 {
		t.Fatalf("billing on the app: %d, want 403", code)
	}
	if !strings.Contains(e.logs.String(), "also a configured corp app") {
		t.Error("no warning says the tenant is a configured app")
	}
}

// One client cannot spend the fleet's invalidation budget: past half of
// it (reports of the current token that made the fleet fetch), its
// reports are refused with 429, and another client's still work.
func TestOneClientSpendsOnlyItsShareOfTheInvalidationBudget(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.Settings.InvalidateBudget = 4 })
	report := func(key string) (int, string) {
		tok := e.waitToken("/v1/token/shop", key).AccessToken
		e.sim.Revoke(tok) // the token really died
		code, body := e.do("POST", "/v1/token/shop/invalidate", key, strings.NewReader(fmt.Sprintf(`{"access_token":%q}`, tok)))
		return code, string(body)
	}
	for i := range 2 {
		if code, body := report(billingKey); code != 200 {
			t.Fatalf("report %d within the share: %d %s", i, code, body)
		}
	}
	if code, body := report(billingKey); code != 429 {
		t.Fatalf("rule: a client spends at most its share (2 of 4) of the invalidation budget; the third report: %d %s", code, body)
	}
	if code, body := report(reportsKey); code != 200 {
		t.Fatalf("another client's report after billing spent its share: %d %s", code, body)
	}
}

// With invalidate_budget left out of the config, a client's share is half
// of the default budget, not half of zero: its second report of a dead
// token in a day is answered with a new token. (The share was computed
// from the unset field: one report a day, every later one refused with
// 429, which failed thousands of business calls through a partition.)
func TestTheDefaultInvalidationBudgetGivesAClientItsShare(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		tok := e.waitToken("/v1/token/shop", billingKey).AccessToken
		e.sim.Revoke(tok)
		code, body := e.do("POST", "/v1/token/shop/invalidate", billingKey, strings.NewReader(fmt.Sprintf(`{"access_token":%q}`, tok)))
		if code != 200 || decode(t, body).AccessToken == tok {
			t.Fatalf("report %d of a dead token with the default budget: %d %s", i+1, code, body)
		}
	}
}
