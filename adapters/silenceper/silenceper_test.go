package silenceper_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/silenceper/wechat/v2"
	"github.com/silenceper/wechat/v2/cache"
	offConfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/util"
	workConfig "github.com/silenceper/wechat/v2/work/config"

	"github.com/wxtoken/wxtoken/adapters/silenceper"
	"github.com/wxtoken/wxtoken/core"
	wxwechat "github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// sdkAgainst points the SDK's HTTP client at sim for the test.
func sdkAgainst(t *testing.T, sim *wxsim.Server) {
	t.Helper()
	rt, err := wxsim.Hosts(sim.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	util.DefaultHTTPClient = &http.Client{Transport: rt}
	t.Cleanup(func() { util.DefaultHTTPClient = http.DefaultClient })
}

// The SDK's official account, its jsapi ticket and its WeCom app all take
// their credentials from wxtoken; the SDK itself asks upstream for none.
func TestSDKTakesItsCredentialsFromWxtoken(t *testing.T) {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxsdk0000000001", "app-secret")
	sim.AddWeComApp("wwsdk0000000001", "1000002", "corp-secret")
	sdkAgainst(t, sim)
	m := core.New()
	defer m.Close()
	base := wxwechat.WithBaseURL(sim.URL)
	for key, src := range map[string]core.Source{
		"shop": wxwechat.OfficialAccount("wxsdk0000000001", "app-secret", base),
		"oa":   wxwechat.WeCom("wwsdk0000000001", "1000002", "corp-secret", base),
	} {
		if err := m.Register(key, src); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Register("shop-jsapi", wxwechat.JSAPITicket("shop", base)); err != nil {
		t.Fatal(err)
	}

	wc := wechat.NewWechat()
	oa := wc.GetOfficialAccount(&offConfig.Config{AppID: "wxsdk0000000001", AppSecret: "app-secret", Cache: cache.NewMemory()})
	oa.SetAccessTokenHandle(silenceper.New(m, "shop"))
	js := oa.GetJs()
	js.SetJsTicketHandle(silenceper.NewTicket(m, "shop-jsapi"))
	if _, err := oa.GetBasic().GetCallbackIP(); err != nil {
		t.Fatalf("a business call through the SDK: %v", err)
	}
	cfg, err := js.GetConfig("https://example.com/page")
	if err != nil || cfg.Signature == "" {
		t.Fatalf("the SDK's JS-SDK config: %+v, %v", cfg, err)
	}
	ticket, _ := m.Token(context.Background(), "shop-jsapi")
	if want := wxwechat.JSSDKSignature(ticket.Value, cfg.NonceStr, cfg.Timestamp, "https://example.com/page"); cfg.Signature != want {
		t.Fatal("the SDK signed with another ticket than wxtoken's")
	}

	work := wc.GetWork(&workConfig.Config{CorpID: "wwsdk0000000001", CorpSecret: "corp-secret", AgentID: "1000002", Cache: cache.NewMemory()})
	work.GetContext().AccessTokenHandle = silenceper.New(m, "oa")
	tok, err := work.GetContext().GetAccessToken()
	if err != nil || !sim.Valid(tok) {
		t.Fatalf("the WeCom app's token through the SDK: %v", err)
	}
	calls := sim.Stats().Calls
	if calls["/cgi-bin/token"] != 1 || calls["/cgi-bin/gettoken"] != 1 || calls["/cgi-bin/ticket/getticket"] != 1 {
		t.Fatalf("upstream calls %v: want one of each, all made by wxtoken", calls)
	}
}

// Do repairs a refused token once and passes other errors through.
func TestDoReportsOnlyTokenErrors(t *testing.T) {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxsdk0000000002", "app-secret")
	m := core.New()
	defer m.Close()
	m.Register("shop", wxwechat.OfficialAccount("wxsdk0000000002", "app-secret", wxwechat.WithBaseURL(sim.URL)))
	h := silenceper.New(m, "shop")
	ctx := context.Background()
	first, err := h.GetAccessTokenContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sim.Revoke(first)
	calls := 0
	err = h.Do(ctx, func() error {
		calls++
		tok, _ := h.GetAccessToken()
		if tok == first {
			return &util.CommonError{ErrCode: 40001, ErrMsg: "invalid credential"}
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("Do after a 40001: %v after %d calls, want success on the second", err, calls)
	}
	other := errors.New("network down")
	calls = 0
	if err := h.Do(ctx, func() error { calls++; return other }); !errors.Is(err, other) || calls != 1 {
		t.Fatalf("Do with another error: %v after %d calls, want it returned after one", err, calls)
	}
	if silenceper.IsTokenError(&util.CommonError{ErrCode: 45009}) || !silenceper.IsTokenError(&util.CommonError{ErrCode: 42001}) {
		t.Fatal("IsTokenError misclassifies")
	}
	if n := sim.Stats().Calls["/cgi-bin/token"]; n != 2 {
		t.Fatalf("upstream token calls %d, want 2 (the first and one repair)", n)
	}
}
