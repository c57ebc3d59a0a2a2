package wechat_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// The token an authorization answer carries (get_permanent_code's,
// api_query_auth's) is held to the bounds of every other credential: a
// garbled one is not kept as the tenant's first token; the authorization
// itself still goes through. wxsim answers only well-formed tokens, so a
// stand-in upstream answers these two endpoints here.
func TestGarbledAuthorizationTokensAreNotKept(t *testing.T) {
	for _, c := range []struct{ name, token, expiresIn string }{
		{"too long", strings.Repeat("x", 5000), "7200"},
		{"lifetime over a day", "AT", "99999999"},
		{"no lifetime", "AT", "0"},
	} {
		upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/cgi-bin/service/get_permanent_code":
				fmt.Fprintf(w, `{"errcode":0,"access_token":%q,"expires_in":%s,"permanent_code":"P","auth_corp_info":{"corpid":"wwc"}}`, c.token, c.expiresIn)
			case "/cgi-bin/component/api_query_auth":
				fmt.Fprintf(w, `{"authorization_info":{"authorizer_appid":"wxa","authorizer_access_token":%q,"expires_in":%s,"authorizer_refresh_token":"R"}}`, c.token, c.expiresIn)
			default:
				http.NotFound(w, r)
			}
		}))
		m := newManager(t)
		fixed := core.SourceFunc(func(context.Context, core.FetchRequest) (core.Token, error) {
			return core.Token{Value: "parent-token", ExpiresAt: time.Now().Add(time.Hour)}, nil
		})
		reg(t, m, "parent", fixed)
		base := wechat.WithBaseURL(upstream.URL)
		ctx := context.Background()
		corp, err := wechat.SuiteToken("s", "x", nil, base).PermanentCode(ctx, m, "parent", "code")
		if err != nil || corp.PermanentCode != "P" || corp.AccessToken.Value != "" {
			t.Errorf("%s: PermanentCode = %.40q token, %v; want the code and no token", c.name, corp.AccessToken.Value, err)
		}
		auth, err := wechat.ComponentToken("c", "x", nil, base).QueryAuth(ctx, m, "parent", "code")
		if err != nil || auth.RefreshToken != "R" || auth.AccessToken.Value != "" {
			t.Errorf("%s: QueryAuth = %.40q token, %v; want the refresh token and no access token", c.name, auth.AccessToken.Value, err)
		}
		upstream.Close()
	}
}
