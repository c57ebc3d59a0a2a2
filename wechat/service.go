package wechat

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// ProviderSource fetches a WeCom service provider's provider_access_token
// from POST /cgi-bin/service/get_provider_token, which answers the live
// token until it expires (see core.Token.RenewAt).
type ProviderSource struct {
	corpID string
	secret string
	c      client
}

// ProviderToken returns the Source of a WeCom provider_access_token.
func ProviderToken(corpID, providerSecret string, opts ...Option) *ProviderSource {
	return &ProviderSource{corpID: corpID, secret: providerSecret, c: newClient(WeComBaseURL, opts, providerSecret)}
}

// Identity implements core.Identified: "provider:" + corpid.
func (s *ProviderSource) Identity() string { return "provider:" + s.corpID }

// Fetch implements core.Source.
func (s *ProviderSource) Fetch(ctx context.Context, req core.FetchRequest) (core.Token, error) {
	body := map[string]string{"corpid": s.corpID, "provider_secret": s.secret}
	return live(s.c.call(ctx, req.Now, http.MethodPost, "/cgi-bin/service/get_provider_token", nil, body, "provider_access_token"))
}

// TicketReader gives the latest ticket upstream pushed (a suite_ticket, a
// component_verify_ticket); see PushedTickets.
type TicketReader interface {
	Ticket(ctx context.Context) (string, error)
}

// SuiteSource fetches a WeCom third-party app's suite_access_token from
// POST /cgi-bin/service/get_suite_token, with the suite_ticket WeCom pushes
// to the callback URL every 10 minutes. It answers the live token until it
// expires (see core.Token.RenewAt).
type SuiteSource struct {
	suiteID string
	secret  string
	tickets TicketReader
	c       client
}

// SuiteToken returns the Source of a suite_access_token. tickets supplies
// the latest pushed suite_ticket, usually NewSuiteTickets on the same shared
// cache the Manager uses.
func SuiteToken(suiteID, suiteSecret string, tickets TicketReader, opts ...Option) *SuiteSource {
	return &SuiteSource{suiteID: suiteID, secret: suiteSecret, tickets: tickets, c: newClient(WeComBaseURL, opts, suiteSecret)}
}

// Identity implements core.Identified: "suite:" + suite_id.
func (s *SuiteSource) Identity() string { return "suite:" + s.suiteID }

// Fetch implements core.Source.
func (s *SuiteSource) Fetch(ctx context.Context, req core.FetchRequest) (core.Token, error) {
	ticket, err := s.tickets.Ticket(ctx)
	if err != nil {
		return core.Token{}, err
	}
	body := map[string]string{"suite_id": s.suiteID, "suite_secret": s.secret, "suite_ticket": ticket}
	return live(s.c.call(ctx, req.Now, http.MethodPost, "/cgi-bin/service/get_suite_token", nil, body, "suite_access_token"))
}

// CorpSource fetches the access_token of a corp that authorized a suite,
// from POST /cgi-bin/service/get_corp_token with the suite_access_token
// registered under suiteKey.
type CorpSource struct {
	suiteKey      string
	authCorpID    string
	permanentCode string
	c             client
}

// CorpToken returns the Source of an authorized corp's access_token.
// permanentCode is a secret, like an app secret.
func CorpToken(suiteKey, authCorpID, permanentCode string, opts ...Option) *CorpSource {
	return &CorpSource{suiteKey: suiteKey, authCorpID: authCorpID, permanentCode: permanentCode,
		c: newClient(WeComBaseURL, opts, permanentCode)}
}

// Identity implements core.Identified; the Manager appends the suite's
// identity (see core.Dependent).
func (s *CorpSource) Identity() string { return "corp:" + s.authCorpID }

// DependsOn implements core.Dependent.
func (s *CorpSource) DependsOn() string { return s.suiteKey }

// Fetch implements core.Source.
func (s *CorpSource) Fetch(ctx context.Context, req core.FetchRequest) (core.Token, error) {
	if tok, ok, err := takeFirstToken(ctx, req); ok || err != nil {
		return tok, err
	}
	return withToken(ctx, req.Deps, s.suiteKey, func(suiteToken string) (core.Token, error) {
		q := url.Values{"suite_access_token": {suiteToken}}
		body := map[string]string{"auth_corpid": s.authCorpID, "permanent_code": s.permanentCode}
		return s.c.call(ctx, req.Now, http.MethodPost, "/cgi-bin/service/get_corp_token", q, body, "access_token")
	})
}

// Verify implements core.Verifier with /cgi-bin/get_api_domain_ip.
func (s *CorpSource) Verify(ctx context.Context, token string) (bool, error) {
	return s.c.verify(ctx, token)
}

// AuthCorp is what get_permanent_code answers for an install's auth_code:
// the corp, its permanent code (a secret, like an app secret) and, when
// upstream gives a well-formed one, the corp's first access token (see
// SaveFirstToken).
type AuthCorp struct {
	CorpID        string
	CorpName      string
	PermanentCode string
	AccessToken   core.Token
}

// PermanentCode exchanges the auth_code of a create_auth callback for the
// installing corp's permanent code (POST
// /cgi-bin/service/get_permanent_code), with the suite_access_token
// registered under suiteKey in tokens. An auth_code can be exchanged once.
func (s *SuiteSource) PermanentCode(ctx context.Context, tokens core.Tokens, suiteKey, authCode string) (AuthCorp, error) {
	var out struct {
		PermanentCode string `json:"permanent_code"`
		AccessToken   string `json:"access_token"`
		ExpiresIn     int64  `json:"expires_in"`
		Corp          struct {
			CorpID   string `json:"corpid"`
			CorpName string `json:"corp_name"`
		} `json:"auth_corp_info"`
	}
	start := time.Now()
	err := withTokenDo(ctx, tokens, suiteKey, func(tok string) error {
		return s.c.callJSON(ctx, http.MethodPost, "/cgi-bin/service/get_permanent_code", url.Values{"suite_access_token": {tok}},
			map[string]string{"auth_code": authCode}, &out)
	})
	if err != nil {
		return AuthCorp{}, err
	}
	if out.PermanentCode == "" || out.Corp.CorpID == "" {
		return AuthCorp{}, errors.New("wechat: get_permanent_code answered no permanent_code or corpid")
	}
	return AuthCorp{CorpID: out.Corp.CorpID, CorpName: out.Corp.CorpName, PermanentCode: out.PermanentCode,
		AccessToken: grantedToken("access_token", out.AccessToken, out.ExpiresIn, start)}, nil
}
