package wechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// toolsSim is a simulator with two accounts, on a clock the test moves.
func toolsSim(t *testing.T) (*wxsim.Server, *atomic.Int64) {
	t.Helper()
	var off atomic.Int64
	sim := wxsim.NewServer(wxsim.WithClock(func() time.Time { return time.Now().Add(time.Duration(off.Load())) }))
	t.Cleanup(sim.Close)
	sim.AddApp("wxtools", "tools-secret-never-shown")
	sim.AddApp("wxother", "other-secret-never-shown")
	return sim, &off
}

func fetchToken(t *testing.T, sim *wxsim.Server, app, secret string) string {
	t.Helper()
	tok, err := wechat.OfficialAccount(app, secret, wechat.WithBaseURL(sim.URL)).Fetch(context.Background(), core.FetchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

func wantCode(t *testing.T, what string, err error, code int) {
	t.Helper()
	if wechat.Code(err) != code {
		t.Fatalf("%s: %v, want errcode %d", what, err, code)
	}
}

func TestToolsQuota(t *testing.T) {
	sim, _ := toolsSim(t)
	tools := wechat.NewTools(wechat.WithBaseURL(sim.URL))
	ctx := context.Background()
	var tok string
	for range 3 {
		tok = fetchToken(t, sim, "wxtools", "tools-secret-never-shown")
	}
	q, err := tools.Quota(ctx, tok, "/cgi-bin/token")
	if err != nil || q != (wechat.Quota{DailyLimit: wxsim.DefaultDailyLimit, Used: 3, Remain: wxsim.DefaultDailyLimit - 3}) {
		t.Fatalf("quota of /cgi-bin/token after 3 calls: %+v, %v", q, err)
	}
	for range 2 {
		if _, err := wxsim.Check(ctx, http.DefaultClient, sim.URL, tok); err != nil {
			t.Fatal(err)
		}
	}
	if q, err := tools.Quota(ctx, tok, wxsim.BusinessPath); err != nil || q.Used != 2 || q.Remain != q.DailyLimit-2 {
		t.Fatalf("quota of the business API after 2 calls: %+v, %v", q, err)
	}
	other := fetchToken(t, sim, "wxother", "other-secret-never-shown")
	if q, err := tools.Quota(ctx, other, "/cgi-bin/token"); err != nil || q.Used != 1 {
		t.Fatalf("another account's quota counts its own calls: %+v, %v", q, err)
	}
	_, err = tools.Quota(ctx, tok, "/sns/oauth2/access_token")
	wantCode(t, "quota of a /sns/ API", err, wechat.CodeCgiPathRefused)
	_, err = tools.Quota(ctx, tok, "/cgi-bin/no/such/api")
	wantCode(t, "quota of an API that does not exist", err, wechat.CodeCgiPathNotFound)
	if _, err := tools.Quota(ctx, tok, "cgi-bin/token"); err == nil || !strings.Contains(err.Error(), "cgi_path") {
		t.Fatalf("a cgi_path without its slash: %v, want a refusal naming cgi_path", err)
	}
	_, err = tools.Quota(ctx, "not-a-token", "/cgi-bin/token")
	wantCode(t, "quota with a token upstream never issued", err, wechat.CodeInvalidCredential)
	if err != nil && strings.Contains(err.Error(), "not-a-token") {
		t.Fatalf("the error shows the token: %v", err)
	}
}

var ridOf = regexp.MustCompile(`rid: ([0-9a-f]+)`)

func TestToolsRid(t *testing.T) {
	sim, off := toolsSim(t)
	tools := wechat.NewTools(wechat.WithBaseURL(sim.URL))
	ctx := context.Background()
	// A failed call: the wrong secret. Its errmsg ends with the rid.
	_, err := wechat.OfficialAccount("wxtools", "a-wrong-secret-value", wechat.WithBaseURL(sim.URL)).Fetch(ctx, core.FetchRequest{})
	m := ridOf.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("the failed call's error has no rid: %v", err)
	}
	tok := fetchToken(t, sim, "wxtools", "tools-secret-never-shown")
	info, err := tools.Rid(ctx, tok, m[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info.RequestURL, "appid=wxtools") || !strings.Contains(info.ResponseBody, "40125") ||
		info.ClientIP != "127.0.0.1" || time.Since(info.InvokeTime) > time.Minute {
		t.Fatalf("rid info %+v: want the call's query, its 40125 answer, the client address and its time", info)
	}
	if strings.Contains(info.RequestURL, "a-wrong-secret-value") || !strings.Contains(info.RequestURL, "secret=***") {
		t.Fatalf("the rid's request_url shows the secret: %q", info.RequestURL)
	}
	if _, err := tools.Rid(ctx, tok, "rid: "+m[1]); err != nil {
		t.Fatalf("a rid pasted with its prefix: %v", err)
	}
	other := fetchToken(t, sim, "wxother", "other-secret-never-shown")
	_, err = tools.Rid(ctx, other, m[1])
	wantCode(t, "another account asking for the rid", err, wechat.CodeRidNotFound)
	_, err = tools.Rid(ctx, tok, "")
	wantCode(t, "an empty rid", err, wechat.CodeRidMalformed)
	_, err = tools.Rid(ctx, tok, "not a rid!")
	wantCode(t, "a malformed rid", err, wechat.CodeRidMalformed)
	off.Add(int64(wxsim.RidLifetime + time.Hour))
	tok = fetchToken(t, sim, "wxtools", "tools-secret-never-shown")
	_, err = tools.Rid(ctx, tok, m[1])
	wantCode(t, "a rid older than 7 days", err, wechat.CodeRidNotFound)
}

func TestToolsClearQuota(t *testing.T) {
	sim, _ := toolsSim(t)
	tools := wechat.NewTools(wechat.WithBaseURL(sim.URL))
	ctx := context.Background()
	tok := fetchToken(t, sim, "wxtools", "tools-secret-never-shown")
	err := tools.ClearQuota(ctx, tok, "wxother")
	wantCode(t, "clearing another account's quota", err, 40013)
	for i := range wxsim.ClearsPerMonth {
		if err := tools.ClearQuota(ctx, tok, "wxtools"); err != nil {
			t.Fatalf("clear %d of %d this month: %v", i+1, wxsim.ClearsPerMonth, err)
		}
	}
	if q, err := tools.Quota(ctx, tok, "/cgi-bin/token"); err != nil || q.Used != 0 {
		t.Fatalf("quota after a clear: %+v, %v; want 0 used", q, err)
	}
	err = tools.ClearQuota(ctx, tok, "wxtools")
	wantCode(t, "a clear past the month's limit", err, wechat.CodeClearLimit)
	if n := sim.Clears("wxtools"); n != wxsim.ClearsPerMonth {
		t.Fatalf("clears counted %d, want %d", n, wxsim.ClearsPerMonth)
	}
	var ae *wechat.APIError
	if !errors.As(err, &ae) || ae.Transient() {
		t.Fatalf("48006 must be a permanent APIError: %#v", err)
	}
}

// A failed call's record can hold secrets in any shape a caller sent
// them: names in any case, ';' separators, escaped JSON inside JSON, XML,
// names that do not say "secret" at all. Rid blanks what names give away,
// and every literal secret WithRedacted names.
func TestToolsRidBlanksSecretsInEveryShape(t *testing.T) {
	sim, _ := toolsSim(t)
	const s1, s2 = "S3CRET-one-never-shown", "S3CRET-two-never-shown"
	tools := wechat.NewTools(wechat.WithBaseURL(sim.URL), wechat.WithRedacted(s2))
	ctx := context.Background()
	tok := fetchToken(t, sim, "wxtools", "tools-secret-never-shown")
	bodies := []string{
		`{"cgi_path":"/sns/x","Secret":"` + s1 + `","AppSecret":"` + s1 + `","encoding_aes_key":"` + s1 + `","data":"{\"secret\":\"` + s1 + `\"}","pw":"` + s2 + `"}`,
		`<xml><SuiteTicket>` + s1 + `</SuiteTicket><Encrypt>` + s2 + `</Encrypt></xml>`,
	}
	for _, body := range bodies {
		q := "access_token=" + tok + "&SECRET=" + s1 + ";component_appsecret=" + s1 + "&note=" + s2
		resp, err := http.Post(sim.URL+wxsim.QuotaPath+"?"+q, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Errmsg string `json:"errmsg"`
		}
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		m := ridOf.FindStringSubmatch(v.Errmsg)
		if m == nil {
			t.Fatalf("no rid in %q", v.Errmsg)
		}
		info, err := tools.Rid(ctx, tok, m[1])
		if err != nil {
			t.Fatal(err)
		}
		all := info.RequestURL + info.RequestBody + info.ResponseBody
		if strings.Contains(all, s1) || strings.Contains(all, s2) || strings.Contains(all, tok) {
			t.Fatalf("a secret survives in the rid record:\nquery %s\nbody %s\nanswer %s", info.RequestURL, info.RequestBody, info.ResponseBody)
		}
	}
}
