package server_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// jssdkSign is the JS-SDK signature, computed here apart from the server:
// SHA-1 of the four fields in this order, joined as a query, the URL
// without its fragment.
func jssdkSign(ticket, nonce string, ts int64, url string) string {
	url, _, _ = strings.Cut(url, "#")
	sum := sha1.Sum([]byte(fmt.Sprintf("jsapi_ticket=%s&noncestr=%s&timestamp=%d&url=%s", ticket, nonce, ts, url)))
	return hex.EncodeToString(sum[:])
}

// checkTenantSignature asks for a signature of a page with the tenant's
// ticket and checks it against the ticket the ticket route serves.
func checkTenantSignature(t *testing.T, e *env, key, app, tenant, kind string) {
	t.Helper()
	ticket := e.waitToken("/v1/ticket/"+app+"/tenants/"+tenant+"/"+kind, key).Ticket
	const page = "https://shop.example.com/pay?order=42#top"
	code, body := e.do("POST", "/v1/jsapi/"+app+"/tenants/"+tenant+"/signature", key,
		strings.NewReader(`{"url":"`+page+`","ticket":"`+kind+`"}`))
	var sig struct {
		AppID     string `json:"appId"`
		Timestamp int64  `json:"timestamp"`
		NonceStr  string `json:"nonceStr"`
		Signature string `json:"signature"`
		URL       string `json:"url"`
	}
	if code != 200 || json.Unmarshal(body, &sig) != nil {
		t.Fatalf("%s signature for tenant %s: %d %s", kind, tenant, code, body)
	}
	if sig.AppID != tenant || sig.URL != page || sig.Signature != jssdkSign(ticket, sig.NonceStr, sig.Timestamp, page) {
		t.Fatalf("%s signature for tenant %s: %+v does not verify with its ticket", kind, tenant, sig)
	}
}

// An installed corp's jsapi and agent_config tickets and an authorizer's
// jsapi ticket are served and signed with, fetched once each however
// often they are asked for, and gone with their tenant.
func TestTenantTickets(t *testing.T) {
	e := tenantEnv(t)
	ctx := context.Background()
	e.installCorp(ctx, "wwtenant01")
	for _, kind := range []string{"jsapi", "agent_config"} {
		for range 3 {
			if !e.sim.Valid(e.waitToken("/v1/ticket/suite/tenants/wwtenant01/"+kind, billingKey).Ticket) {
				t.Fatalf("the corp's %s ticket is not valid upstream", kind)
			}
		}
	}
	calls := e.sim.Stats().Calls
	if calls["/cgi-bin/get_jsapi_ticket"] != 1 || calls["/cgi-bin/ticket/get"] != 1 {
		t.Fatalf("ticket calls %d (jsapi) and %d (agent_config) for three requests each, want 1 and 1",
			calls["/cgi-bin/get_jsapi_ticket"], calls["/cgi-bin/ticket/get"])
	}
	checkTenantSignature(t, e, billingKey, "suite", "wwtenant01", "jsapi")
	checkTenantSignature(t, e, billingKey, "suite", "wwtenant01", "agent_config")
	if code, body := e.do("GET", "/v1/ticket/suite/tenants/wwtenant01/wxcard", billingKey, nil); code != 404 {
		t.Fatalf("an unknown ticket kind: %d %s, want 404", code, body)
	}
	if code, _ := e.do("GET", "/v1/ticket/suite/tenants/wwnosuchcorp/jsapi", billingKey, nil); code != 404 {
		t.Fatalf("a ticket of a tenant that does not exist: %d, want 404", code)
	}

	e.waitToken("/v1/token/platform", reportsKey)
	if _, err := e.sim.AuthorizeApp(ctx, "wxcomponent01", "wxauthorizer01"); err != nil {
		t.Fatal(err)
	}
	e.waitToken("/v1/token/platform/tenants/wxauthorizer01", reportsKey)
	checkTenantSignature(t, e, reportsKey, "platform", "wxauthorizer01", "jsapi")
	if code, _ := e.do("GET", "/v1/ticket/platform/tenants/wxauthorizer01/agent_config", reportsKey, nil); code != 404 {
		t.Fatalf("an authorizer's agent_config ticket: %d, want 404 (authorizers have none)", code)
	}
	if code, _ := e.do("GET", "/v1/ticket/platform/tenants/wxauthorizer01/jsapi", billingKey, nil); code != 403 {
		t.Fatalf("a client not allowed on the component got its tenant's ticket: %d, want 403", code)
	}

	if err := e.sim.UninstallCorp(ctx, "wwsuite01", "wwtenant01"); err != nil {
		t.Fatal(err)
	}
	if code, body := e.do("GET", "/v1/ticket/suite/tenants/wwtenant01/jsapi", billingKey, nil); code != 404 {
		t.Fatalf("an uninstalled corp's ticket: %d %s, want 404", code, body)
	}
	if strings.Contains(e.logs.String(), "unregistering a removed tenant") {
		t.Fatalf("the uninstalled corp was not unregistered (its tickets depend on its token):\n%s", grepLines(e.logs.String(), "unregistering"))
	}
	if code, _ := e.do("GET", "/v1/token/suite/tenants/wwtenant01", billingKey, nil); code != 404 {
		t.Fatalf("the uninstalled corp's token: %d, want 404", code)
	}
}
