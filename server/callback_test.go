package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wechat/callback"
	"github.com/wxtoken/wxtoken/wxsim"
)

// tenantEnv is a server with a suite and a component app, each with a
// callback the simulator pushes to.
func tenantEnv(t *testing.T, mutate ...func(*server.Config)) *env {
	t.Helper()
	t.Setenv("SUITE_SECRET", "suite-s3cret-never-shown")
	e := newEnv(t, append([]func(*server.Config){func(c *server.Config) {
		c.TenantKeyEnv = "TENANT_KEY"
		cb := &server.CallbackConfig{TokenEnv: "CB_TOKEN", AESKeyEnv: "CB_AES", Receivers: []string{"wwprovider01"}}
		c.Apps = append(c.Apps,
			server.AppConfig{ID: "suite", Kind: "suite", SuiteID: "wwsuite01", SecretEnv: "SUITE_SECRET", Callback: cb},
			server.AppConfig{ID: "platform", Kind: "component", AppID: "wxcomponent01", SecretEnv: "SUITE_SECRET",
				Callback: &server.CallbackConfig{TokenEnv: "CB_TOKEN", AESKeyEnv: "CB_AES"}, Clients: []string{"reports"}})
	}}, mutate...)...)
	e.sim.AddSuite("wwsuite01", "suite-s3cret-never-shown")
	e.sim.AddComponent("wxcomponent01", "suite-s3cret-never-shown")
	for _, err := range []error{
		e.sim.SetSuiteCallback("wwsuite01", wxsim.Callback{URL: e.http.URL + "/v1/callback/suite", Token: cbToken, EncodingAESKey: cbAESKey}),
		e.sim.SetComponentCallback("wxcomponent01", wxsim.Callback{URL: e.http.URL + "/v1/callback/platform", Token: cbToken, EncodingAESKey: cbAESKey}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// suiteReady delivers a suite_ticket and waits for the suite's token.
func (e *env) suiteReady(ctx context.Context) {
	e.t.Helper()
	if _, err := e.sim.DeliverSuiteTicket(ctx, "wwsuite01"); err != nil {
		e.t.Fatal(err)
	}
	e.waitToken("/v1/token/suite", billingKey)
}

// installCorp has corp install the suite (once the suite has its token)
// and waits until the server serves the corp's token.
func (e *env) installCorp(ctx context.Context, corp string) {
	e.t.Helper()
	e.suiteReady(ctx)
	if _, err := e.sim.InstallCorp(ctx, "wwsuite01", corp); err != nil {
		e.t.Fatal(err)
	}
	e.waitToken("/v1/token/suite/tenants/"+corp, billingKey)
}

// waitToken polls a token route until it answers 200.
func (e *env) waitToken(path, key string) tokenJSON {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := e.do("GET", path, key, nil)
		if code == 200 {
			return decode(e.t, body)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("GET %s: %d %s", path, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The provider flow on one server: a pushed ticket brings the suite's
// token; an install registers the corp, its token is served by the tenant
// route, its permanent code is stored sealed and shown nowhere; an
// uninstall removes it; the next ticket is taken.
func TestSuiteCallbacksRegisterAndRemoveTenants(t *testing.T) {
	e := tenantEnv(t)
	ctx := context.Background()
	if _, err := e.sim.DeliverSuiteTicket(ctx, "wwsuite01"); err != nil {
		t.Fatal(err)
	}
	e.waitToken("/v1/token/suite", billingKey)
	if _, err := e.sim.InstallCorp(ctx, "wwsuite01", "wwtenant01"); err != nil {
		t.Fatal(err)
	}
	tok := e.waitToken("/v1/token/suite/tenants/wwtenant01", billingKey)
	if !e.sim.Valid(tok.AccessToken) {
		t.Fatal("the tenant's token is not valid upstream")
	}
	// The token get_permanent_code handed out is the first one served.
	if n := e.sim.Stats().Calls["/cgi-bin/service/get_corp_token"]; n != 0 {
		t.Fatalf("get_corp_token called %d times for a corp just installed, want 0", n)
	}
	code, body := e.do("GET", "/v1/token/suite/tenants", billingKey, nil)
	if code != 200 || !strings.Contains(string(body), `"id":"wwtenant01"`) {
		t.Fatalf("tenant list: %d %s", code, body)
	}
	perm := e.sim.PermanentCode("wwsuite01", "wwtenant01")
	if perm == "" {
		t.Fatal("no permanent code upstream")
	}
	if e.storeHolds(perm) {
		t.Fatal("the permanent code is in the shared store unsealed")
	}
	if err := e.sim.UninstallCorp(ctx, "wwsuite01", "wwtenant01"); err != nil {
		t.Fatal(err)
	}
	if code, body := e.do("GET", "/v1/token/suite/tenants/wwtenant01", billingKey, nil); code != 404 {
		t.Fatalf("an uninstalled tenant: %d %s, want 404", code, body)
	}
	if _, err := e.sim.DeliverSuiteTicket(ctx, "wwsuite01"); err != nil {
		t.Fatalf("a later ticket push: %v", err)
	}
	for _, s := range []string{perm} {
		if strings.Contains(e.logs.String(), s) || strings.Contains(e.bodies.String(), s) {
			t.Fatal("the permanent code appears in a log line or a response")
		}
	}
}

// storeHolds reports whether any document of the tenant registries in
// the server's store contains s.
func (e *env) storeHolds(s string) bool {
	e.t.Helper()
	found := 0
	for _, tag := range []string{"wxtoken:{tenants:suite:wwsuite01}", "wxtoken:{tenants:component:wxcomponent01}"} {
		keys := []string{tag + ":head"}
		for b := range 256 {
			keys = append(keys, fmt.Sprintf("%s:b:%02x", tag, b))
		}
		for _, key := range keys {
			v, err := e.srv.Cache().Get(context.Background(), key)
			if err == nil {
				found++
				if strings.Contains(v, s) {
					return true
				}
			}
		}
	}
	if found == 0 {
		e.t.Fatal("storeHolds: no registry document in the store to look into")
	}
	return false
}

// The Open Platform flow on one server: the first token asks for a ticket
// push; an authorization registers the authorizer, whose token is served;
// the client restriction of the component app holds for its tenants.
func TestComponentCallbacksRegisterAuthorizers(t *testing.T) {
	e := tenantEnv(t)
	ctx := context.Background()
	e.waitToken("/v1/token/platform", reportsKey) // asks upstream to push, which pushes to the callback
	if _, err := e.sim.AuthorizeApp(ctx, "wxcomponent01", "wxauthorizer01"); err != nil {
		t.Fatal(err)
	}
	tok := e.waitToken("/v1/token/platform/tenants/wxauthorizer01", reportsKey)
	if !e.sim.Valid(tok.AccessToken) {
		t.Fatal("the authorizer's token is not valid upstream")
	}
	// The token api_query_auth handed out is the first one served.
	if n := e.sim.Stats().Calls["/cgi-bin/component/api_authorizer_token"]; n != 0 {
		t.Fatalf("api_authorizer_token called %d times for an authorizer just authorized, want 0", n)
	}
	if code, _ := e.do("GET", "/v1/token/platform/tenants/wxauthorizer01", billingKey, nil); code != 403 {
		t.Fatalf("a client not allowed on the component got its tenant's token: %d", code)
	}
	// Changed permissions: the authorizer's refresh token chain goes on,
	// no second one is started.
	before := e.sim.AuthorizerRefreshToken("wxcomponent01", "wxauthorizer01")
	if _, err := e.sim.UpdateAuthorization(ctx, "wxcomponent01", "wxauthorizer01"); err != nil {
		t.Fatal(err)
	}
	if after := e.sim.AuthorizerRefreshToken("wxcomponent01", "wxauthorizer01"); after != before {
		t.Fatal("updateauthorized of a served authorizer exchanged its code and started a second refresh token chain")
	}
	if code, _ := e.do("GET", "/v1/token/platform/tenants/wxauthorizer01", reportsKey, nil); code != 200 {
		t.Fatalf("the authorizer after updateauthorized: %d", code)
	}
	rt := e.sim.AuthorizerRefreshToken("wxcomponent01", "wxauthorizer01")
	if strings.Contains(e.logs.String(), rt) || strings.Contains(e.bodies.String(), rt) {
		t.Fatal("the refresh token appears in a log line or a response")
	}
	if err := e.sim.UnauthorizeApp(ctx, "wxcomponent01", "wxauthorizer01"); err != nil {
		t.Fatal(err)
	}
	if code, body := e.do("GET", "/v1/token/platform/tenants/wxauthorizer01", reportsKey, nil); code != 404 {
		t.Fatalf("an unauthorized tenant: %d %s, want 404", code, body)
	}
}

// Every broken or hostile callback is refused with one answer, counted by
// outcome, and changes nothing: no ticket stored, no tenant added.
func TestCallbackRefusals(t *testing.T) {
	e := tenantEnv(t)
	crypto, _ := callback.New(cbToken, cbAESKey, "wwsuite01")
	now := time.Now()
	ticket := func(at time.Time) []byte {
		b, _ := callback.Event{InfoType: callback.InfoSuiteTicket, SuiteID: "wwsuite01", TimeStamp: at.Unix(), SuiteTicket: "hostile-ticket"}.Marshal()
		return b
	}
	seal := func(c *callback.Crypto, msg []byte, at time.Time) ([]byte, url.Values) {
		body, q, err := c.Seal(msg, at, "nonce1")
		if err != nil {
			t.Fatal(err)
		}
		return body, q
	}
	post := func(q url.Values, body []byte) (int, string) {
		code, b := e.do("POST", "/v1/callback/suite?"+q.Encode(), "", bytes.NewReader(body))
		return code, string(b)
	}
	good, goodQ := seal(crypto, ticket(now), now)
	wrongSig := url.Values{"msg_signature": {strings.Repeat("a", 40)}, "timestamp": goodQ["timestamp"], "nonce": goodQ["nonce"]}
	oldBody, oldQ := seal(crypto, ticket(now.Add(-10*time.Minute)), now.Add(-10*time.Minute))
	other, _ := callback.New(cbToken, cbAESKey, "wwsomeoneelse")
	otherBody, otherQ := seal(other, ticket(now), now)
	wrongKey, _ := callback.New(cbToken, "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wwsuite01")
	wrongKeyBody, wrongKeyQ := seal(wrongKey, ticket(now), now)
	huge := append([]byte("<xml><Encrypt>"), bytes.Repeat([]byte("A"), callback.MaxBody)...)
	notXML := []byte(`{"Encrypt":"x"}`)
	for _, c := range []struct {
		name    string
		q       url.Values
		body    []byte
		status  int
		outcome string
	}{
		{"wrong signature", wrongSig, good, 403, "signature"},
		{"replayed (10 minutes old)", oldQ, oldBody, 403, "timestamp"},
		{"sealed for another receiver", otherQ, otherBody, 403, "undecryptable"},
		{"wrong EncodingAESKey (bad padding)", wrongKeyQ, wrongKeyBody, 403, "undecryptable"},
		{"oversized body", goodQ, huge, 403, "too_large"},
		{"not XML", goodQ, notXML, 403, "malformed"},
	} {
		if code, body := post(c.q, c.body); code != c.status || body != refusedBody {
			t.Errorf("%s: %d %s, want %d %s", c.name, code, body, c.status, refusedBody)
		}
	}
	if v, err := e.srv.Cache().Get(context.Background(), "wxtoken:suite_ticket:wwsuite01"); err == nil {
		t.Fatalf("a refused push stored a ticket: %s", v)
	}
	code, metrics := e.do("GET", "/metrics", billingKey, nil)
	for _, outcome := range []string{"signature", "timestamp", "malformed", "too_large", "undecryptable"} {
		line := fmt.Sprintf(`wxtoken_callbacks_total{app="suite",event="unknown",outcome=%q}`, outcome)
		if code != 200 || !strings.Contains(string(metrics), line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	if code, body := post(goodQ, good); code != 200 || body != "success" {
		t.Fatalf("the genuine push after the refused ones: %d %q", code, body)
	}
	// URL verification: the echostr comes back decrypted; a wrong
	// signature is refused.
	enc, _ := crypto.Encrypt([]byte("1616140317555161061"))
	ts := fmt.Sprint(now.Unix())
	q := url.Values{"msg_signature": {crypto.Signature(ts, "n2", enc)}, "timestamp": {ts}, "nonce": {"n2"}, "echostr": {enc}}
	if code, body := e.do("GET", "/v1/callback/suite?"+q.Encode(), "", nil); code != 200 || string(body) != "1616140317555161061" {
		t.Fatalf("URL verification: %d %s", code, body)
	}
	q.Set("msg_signature", strings.Repeat("b", 40))
	if code, _ := e.do("GET", "/v1/callback/suite?"+q.Encode(), "", nil); code != 403 {
		t.Fatalf("URL verification with a wrong signature: %d", code)
	}
	if code, body := e.do("POST", "/v1/callback/shop?"+goodQ.Encode(), "", bytes.NewReader(good)); code != 403 || string(body) != refusedBody {
		t.Fatalf("a callback for an app without one: %d %s, want the one refusal", code, body)
	}
}

// refusedBody is the one answer to a refused callback.
const refusedBody = `{"errcode":40300,"errmsg":"callback refused"}` + "\n"

// Tenant routes refuse what they cannot serve.
func TestTenantRouteRefusals(t *testing.T) {
	e := tenantEnv(t)
	for path, want := range map[string]int{
		"/v1/token/shop/tenants":             404, // not a tenant app
		"/v1/token/suite/tenants/wwnobody01": 404,
		"/v1/token/ghost/tenants/x":          404,
	} {
		code, body := e.do("GET", path, billingKey, nil)
		if code != want {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, want)
		}
		var v map[string]any
		if json.Unmarshal(body, &v) != nil {
			t.Errorf("GET %s: not JSON: %s", path, body)
		}
	}
	if code, _ := e.do("GET", "/v1/token/suite/tenants", "", nil); code != 401 {
		t.Errorf("tenant list without a key: %d, want 401", code)
	}
}
