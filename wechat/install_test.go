package wechat_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wechat/callback"
	"github.com/wxtoken/wxtoken/wxsim"
)

// A corp installs a suite: create_auth carries an auth_code, exchanged
// once for the permanent code the corp's token is fetched with; an
// uninstall makes that code useless.
func TestWeComInstallAndUninstall(t *testing.T) {
	sim := newSim(t)
	sim.AddSuite("suite1", "suite-secret")
	crypto, _ := callback.New("suite-token", compAESKey, "suite1")
	events := make(chan callback.Event, 4)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		msg, err := crypto.Open(r.URL.Query(), body, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		e, _ := callback.ParseEvent(msg)
		events <- e
		io.WriteString(w, "success")
	}))
	defer cb.Close()
	if err := sim.SetSuiteCallback("suite1", wxsim.Callback{URL: cb.URL, Token: "suite-token", EncodingAESKey: compAESKey}); err != nil {
		t.Fatal(err)
	}
	store := core.NewMemoryCache()
	m := newManager(t, core.WithCache(store))
	tickets := wechat.NewSuiteTickets(store, "", "suite1")
	base := wechat.WithBaseURL(sim.URL)
	suite := wechat.SuiteToken("suite1", "suite-secret", tickets, base)
	reg(t, m, "suite", suite)
	ctx := context.Background()
	if _, err := sim.DeliverSuiteTicket(ctx, "suite1"); err != nil {
		t.Fatal(err)
	}
	e := <-events
	if _, err := tickets.Put(ctx, e.SuiteTicket, e.At()); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.InstallCorp(ctx, "suite1", "wwcorp01"); err != nil {
		t.Fatal(err)
	}
	e = <-events
	if e.InfoType != callback.InfoCreateAuth || e.AuthCode == "" {
		t.Fatalf("create_auth: %+v", e)
	}
	corp, err := suite.PermanentCode(ctx, m, "suite", e.AuthCode)
	if err != nil || corp.CorpID != "wwcorp01" || corp.PermanentCode == "" || !sim.Valid(corp.AccessToken.Value) {
		t.Fatalf("PermanentCode: %+v, %v", corp, err)
	}
	if _, err := suite.PermanentCode(ctx, m, "suite", e.AuthCode); wechat.Code(err) != 40078 {
		t.Fatalf("an auth_code exchanged twice: %v, want 40078", err)
	}
	reg(t, m, "corp", wechat.CorpToken("suite", corp.CorpID, corp.PermanentCode, base))
	if tok := ok(t)(m.Token(ctx, "corp")); !sim.Valid(tok.Value) {
		t.Fatal("corp token not valid")
	}
	if err := sim.UninstallCorp(ctx, "suite1", "wwcorp01"); err != nil {
		t.Fatal(err)
	}
	if e = <-events; e.InfoType != callback.InfoCancelAuth || e.AuthCorpID != "wwcorp01" {
		t.Fatalf("cancel_auth: %+v", e)
	}
	_, err = wechat.CorpToken("suite", corp.CorpID, corp.PermanentCode, base).Fetch(ctx, core.FetchRequest{ID: "corp:wwcorp01", Deps: m})
	if wechat.Code(err) != 40013 {
		t.Fatalf("an uninstalled corp's token: %v, want 40013", err)
	}
}
