package wechat

import (
	"context"
	"net/http"
	"net/url"

	"github.com/wxtoken/wxtoken/core"
)

// AccountSource fetches the access_token of an official account, mini
// program or mini game from GET /cgi-bin/token. Every call issues a new
// token and retires the previous one about 5 minutes later, which is why
// only one node of a fleet may call it.
type AccountSource struct {
	appID  string
	secret string
	c      client
}

// OfficialAccount returns the Source of an official account's access_token.
func OfficialAccount(appID, secret string, opts ...Option) *AccountSource {
	return &AccountSource{appID: appID, secret: secret, c: newClient(WeChatBaseURL, opts, secret)}
}

// MiniProgram returns the Source of a mini program's access_token: the
// same endpoint and rules as an official account.
func MiniProgram(appID, secret string, opts ...Option) *AccountSource {
	return OfficialAccount(appID, secret, opts...)
}

// MiniGame returns the Source of a mini game's access_token: the same
// endpoint and rules as an official account.
func MiniGame(appID, secret string, opts ...Option) *AccountSource {
	return OfficialAccount(appID, secret, opts...)
}

// Identity implements core.Identified: "token:" + appid.
func (s *AccountSource) Identity() string { return "token:" + s.appID }

// Fetch implements core.Source.
func (s *AccountSource) Fetch(ctx context.Context, req core.FetchRequest) (core.Token, error) {
	q := url.Values{"grant_type": {"client_credential"}, "appid": {s.appID}, "secret": {s.secret}}
	return s.c.call(ctx, req.Now, http.MethodGet, "/cgi-bin/token", q, nil, "access_token")
}

// Verify implements core.Verifier with /cgi-bin/get_api_domain_ip.
func (s *AccountSource) Verify(ctx context.Context, token string) (bool, error) {
	return s.c.verify(ctx, token)
}
