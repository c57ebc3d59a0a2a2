package wechat

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// WeComSource fetches a WeCom app's access_token from GET
// /cgi-bin/gettoken. Each app of a corp has its own secret and its own
// token, so the identity names the corp and the agent. gettoken answers
// the live token until it expires, so the Manager asks once per lifetime,
// at expiry (see core.Token.RenewAt).
type WeComSource struct {
	corpID  string
	agentID string
	secret  string
	c       client
}

// WeCom returns the Source of the access_token of one WeCom app. agentID
// names the app (such as "1000002", or "contacts" for the contacts-sync
// secret); it is part of the cache key and must be stable.
func WeCom(corpID, agentID, secret string, opts ...Option) *WeComSource {
	return &WeComSource{corpID: corpID, agentID: agentID, secret: secret, c: newClient(WeComBaseURL, opts, secret)}
}

// Identity implements core.Identified: "wecom:" + corpid + ":" + agent.
func (s *WeComSource) Identity() string { return "wecom:" + s.corpID + ":" + s.agentID }

// Fetch implements core.Source.
func (s *WeComSource) Fetch(ctx context.Context, req core.FetchRequest) (core.Token, error) {
	q := url.Values{"corpid": {s.corpID}, "corpsecret": {s.secret}}
	return live(s.c.call(ctx, req.Now, http.MethodGet, "/cgi-bin/gettoken", q, nil, "access_token"))
}

// Verify implements core.Verifier with /cgi-bin/get_api_domain_ip.
func (s *WeComSource) Verify(ctx context.Context, token string) (bool, error) {
	return s.c.verify(ctx, token)
}

// live marks a token from an upstream that answers the same token, with
// its remaining lifetime, until it expires: a new one comes only after
// that. expires_in is whole seconds rounded down, so the true expiry may
// be up to a second later than ExpiresAt; RenewAt is that second.
func live(tok core.Token, err error) (core.Token, error) {
	if err == nil {
		tok.RenewAt = tok.ExpiresAt.Add(time.Second)
	}
	return tok, err
}
