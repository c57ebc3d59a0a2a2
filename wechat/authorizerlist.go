package wechat

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// authorizerListPage is how many authorizers one api_get_authorizer_list
// call asks for: upstream's maximum.
const authorizerListPage = 500

// ListedAuthorizer is one account api_get_authorizer_list names: an
// official account or mini program currently authorized to the component.
type ListedAuthorizer struct {
	AppID string
	// RefreshToken is its current authorizer_refresh_token (a secret).
	// Upstream leaves it out for some accounts (developers have reported
	// answers without it since 2023); such an account has to authorize
	// again to be served.
	RefreshToken string
	// AuthorizedAt is when it authorized.
	AuthorizedAt time.Time
}

// Authorizers lists every account authorized to the component, with its
// refresh token (POST /cgi-bin/component/api_get_authorizer_list, 500 a
// call), using the component_access_token registered under componentKey
// in tokens. The Open Platform is the only upstream that can list its
// tenants again: this is how a registry and refresh tokens lost with the
// store are recovered. WeCom has no such list for a suite's corps.
func (s *ComponentSource) Authorizers(ctx context.Context, tokens core.Tokens, componentKey string) ([]ListedAuthorizer, error) {
	var all []ListedAuthorizer
	for offset := 0; ; {
		var out struct {
			Total int `json:"total_count"`
			List  []struct {
				AppID        string `json:"authorizer_appid"`
				RefreshToken string `json:"refresh_token"`
				AuthTime     int64  `json:"auth_time"`
			} `json:"list"`
		}
		err := withTokenDo(ctx, tokens, componentKey, func(tok string) error {
			return s.c.callJSON(ctx, http.MethodPost, "/cgi-bin/component/api_get_authorizer_list", url.Values{"component_access_token": {tok}},
				map[string]any{"component_appid": s.appID, "offset": offset, "count": authorizerListPage}, &out)
		})
		if err != nil {
			return nil, fmt.Errorf("wechat: api_get_authorizer_list at offset %d: %w", offset, err)
		}
		for _, a := range out.List {
			if a.AppID == "" {
				continue
			}
			all = append(all, ListedAuthorizer{AppID: a.AppID, RefreshToken: a.RefreshToken, AuthorizedAt: time.Unix(a.AuthTime, 0)})
		}
		offset += len(out.List)
		if len(out.List) == 0 || offset >= out.Total {
			return all, nil
		}
	}
}

// Verify implements core.Verifier for the component_access_token: the
// Open Platform has no probe for it, so it asks api_get_authorizer_list
// for one authorizer (read-only; the answer is read for its errcode only,
// never kept). A report of a live component token then costs one such
// call instead of an api_component_token fetch.
func (s *ComponentSource) Verify(ctx context.Context, token string) (bool, error) {
	return s.c.verifyAt(ctx, http.MethodPost, "/cgi-bin/component/api_get_authorizer_list", url.Values{"component_access_token": {token}},
		map[string]any{"component_appid": s.appID, "offset": 0, "count": 1})
}
