package wechat

import (
	"context"
	"net/http"
	"net/url"

	"github.com/wxtoken/wxtoken/core"
)

// WeComSource fetches a WeCom app's access_token from GET
// /cgi-bin/gettoken. Each app of a corp has its own secret and its own
// token, so the identity names the corp and the agent.
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
func (s *WeComSource) Fetch(ctx context.Context, _ core.FetchRequest) (core.Token, error) {
	q := url.Values{"corpid": {s.corpID}, "corpsecret": {s.secret}}
	return s.c.call(ctx, http.MethodGet, "/cgi-bin/gettoken", q, nil, "access_token")
}
