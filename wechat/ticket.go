package wechat

import (
	"context"
	"net/http"
	"net/url"

	"github.com/wxtoken/wxtoken/core"
)

// TicketSource fetches a ticket that is issued against an access_token
// registered in the same Manager (a jsapi_ticket, a WeCom agent_config
// ticket). If upstream refuses that token, it is invalidated (fleet-wide
// compare-and-refresh) and the ticket is asked for once more.
type TicketSource struct {
	kind     string
	tokenKey string
	path     string
	query    url.Values
	c        client
}

// JSAPITicket returns the Source of an official account's jsapi_ticket,
// from GET /cgi-bin/ticket/getticket?type=jsapi. tokenKey is the key the
// account's access_token is registered under.
func JSAPITicket(tokenKey string, opts ...Option) *TicketSource {
	return &TicketSource{kind: "jsapi", tokenKey: tokenKey, path: "/cgi-bin/ticket/getticket",
		query: url.Values{"type": {"jsapi"}}, c: newClient(WeChatBaseURL, opts)}
}

// WeComJSAPITicket returns the Source of a WeCom corp's jsapi_ticket, from
// GET /cgi-bin/get_jsapi_ticket.
func WeComJSAPITicket(tokenKey string, opts ...Option) *TicketSource {
	return &TicketSource{kind: "wecom_jsapi", tokenKey: tokenKey, path: "/cgi-bin/get_jsapi_ticket",
		c: newClient(WeComBaseURL, opts)}
}

// WeComAgentTicket returns the Source of a WeCom app's agent_config ticket,
// from GET /cgi-bin/ticket/get?type=agent_config.
func WeComAgentTicket(tokenKey string, opts ...Option) *TicketSource {
	return &TicketSource{kind: "wecom_agent", tokenKey: tokenKey, path: "/cgi-bin/ticket/get",
		query: url.Values{"type": {"agent_config"}}, c: newClient(WeComBaseURL, opts)}
}

// Identity implements core.Identified; the Manager appends the identity of
// the access_token (see core.Dependent).
func (s *TicketSource) Identity() string { return s.kind }

// DependsOn implements core.Dependent.
func (s *TicketSource) DependsOn() string { return s.tokenKey }

// Fetch implements core.Source.
func (s *TicketSource) Fetch(ctx context.Context, req core.FetchRequest) (core.Token, error) {
	return withToken(ctx, req.Deps, s.tokenKey, func(accessToken string) (core.Token, error) {
		q := url.Values{"access_token": {accessToken}}
		for k, v := range s.query {
			q[k] = v
		}
		return s.c.call(ctx, req.Now, http.MethodGet, s.path, q, nil, "ticket")
	})
}

// withToken calls f with the token registered under key; when upstream
// refuses that token, it is invalidated and f is called once more with its
// replacement.
func withToken(ctx context.Context, deps core.Tokens, key string, f func(token string) (core.Token, error)) (core.Token, error) {
	tok, err := deps.Token(ctx, key)
	if err != nil {
		return core.Token{}, err
	}
	out, err := f(tok.Value)
	if !IsTokenError(err) {
		return out, err
	}
	if tok, err = deps.Invalidate(ctx, key, tok.Value); err != nil {
		return core.Token{}, err
	}
	return f(tok.Value)
}
