package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// StartPushInterval is how often, fleet-wide, a component with no live
// component_verify_ticket asks the Open Platform to push one at once
// (api_start_push_ticket).
const StartPushInterval = time.Minute

// TicketMissingError is returned by a ComponentSource while no live
// component_verify_ticket has been pushed to the callback. It wraps
// ErrNoComponentTicket. PushRequested says this fetch asked upstream to
// push one now (at most once per StartPushInterval, fleet-wide); PushErr is
// why that request failed, if it did.
type TicketMissingError struct {
	Component     string
	PushRequested bool
	PushErr       error
}

// Error implements error.
func (e *TicketMissingError) Error() string {
	msg := "wechat: component " + e.Component + ": no component_verify_ticket has been pushed to the callback URL"
	switch {
	case e.PushErr != nil:
		msg += "; asking for a push failed: " + e.PushErr.Error()
	case e.PushRequested:
		msg += "; a push was requested (api_start_push_ticket)"
	default:
		msg += "; a push was requested less than " + StartPushInterval.String() + " ago"
	}
	return msg
}

// Unwrap returns ErrNoComponentTicket.
func (e *TicketMissingError) Unwrap() error { return ErrNoComponentTicket }

// Transient reports true: the push normally arrives within seconds.
func (e *TicketMissingError) Transient() bool { return true }

// ComponentSource fetches an Open Platform third-party platform's
// component_access_token from POST /cgi-bin/component/api_component_token,
// with the newest component_verify_ticket pushed to the callback URL.
type ComponentSource struct {
	appID   string
	secret  string
	tickets TicketReader
	c       client
}

// ComponentToken returns the Source of a component_access_token. tickets
// supplies the newest pushed component_verify_ticket, usually
// NewComponentTickets on the Manager's shared cache.
func ComponentToken(appID, secret string, tickets TicketReader, opts ...Option) *ComponentSource {
	return &ComponentSource{appID: appID, secret: secret, tickets: tickets, c: newClient(WeChatBaseURL, opts, secret)}
}

// Identity implements core.Identified: "component:" + component appid.
func (s *ComponentSource) Identity() string { return "component:" + s.appID }

// Fetch implements core.Source. Without a live ticket it asks upstream to
// push one (once per StartPushInterval, fleet-wide, through the
// credential's state in the shared store) and returns a
// *TicketMissingError.
func (s *ComponentSource) Fetch(ctx context.Context, req core.FetchRequest) (core.Token, error) {
	ticket, err := s.tickets.Ticket(ctx)
	if errors.Is(err, ErrNoComponentTicket) {
		return core.Token{}, s.askForPush(ctx, req)
	}
	if err != nil {
		return core.Token{}, err
	}
	body := map[string]string{"component_appid": s.appID, "component_appsecret": s.secret, "component_verify_ticket": ticket}
	return s.c.call(ctx, req.Now, http.MethodPost, "/cgi-bin/component/api_component_token", nil, body, "component_access_token")
}

// askForPush calls api_start_push_ticket unless the fleet did within
// StartPushInterval.
func (s *ComponentSource) askForPush(ctx context.Context, req core.FetchRequest) error {
	e := &TicketMissingError{Component: s.appID}
	key := req.StatePrefix + "push_requested"
	if req.State != nil {
		if _, err := req.State.Get(ctx, key); err == nil {
			return e
		}
		_ = req.State.Set(ctx, key, time.Now().UTC().Format(time.RFC3339), StartPushInterval)
	}
	e.PushRequested = true
	e.PushErr = s.StartPushTicket(ctx)
	return e
}

// StartPushTicket asks the Open Platform to push a component_verify_ticket
// to the callback URL now (POST /cgi-bin/component/api_start_push_ticket).
func (s *ComponentSource) StartPushTicket(ctx context.Context) error {
	var out struct{}
	return s.c.callJSON(ctx, http.MethodPost, "/cgi-bin/component/api_start_push_ticket", nil,
		map[string]string{"component_appid": s.appID, "component_secret": s.secret}, &out)
}

// Authorization is what api_query_auth answers for an authorization code:
// the authorizer, its first access token (zero when the answer's is out of
// the bounds every credential is held to) and its refresh token (a
// secret).
type Authorization struct {
	AuthorizerAppID string
	AccessToken     core.Token
	RefreshToken    string
}

// QueryAuth exchanges the authorization code of an authorized or
// updateauthorized notice (POST /cgi-bin/component/api_query_auth), with
// the component_access_token registered under componentKey in tokens.
func (s *ComponentSource) QueryAuth(ctx context.Context, tokens core.Tokens, componentKey, code string) (Authorization, error) {
	var out struct {
		Info struct {
			AppID        string `json:"authorizer_appid"`
			AccessToken  string `json:"authorizer_access_token"`
			ExpiresIn    int64  `json:"expires_in"`
			RefreshToken string `json:"authorizer_refresh_token"`
		} `json:"authorization_info"`
	}
	start := time.Now()
	err := withTokenDo(ctx, tokens, componentKey, func(tok string) error {
		return s.c.callJSON(ctx, http.MethodPost, "/cgi-bin/component/api_query_auth", url.Values{"component_access_token": {tok}},
			map[string]string{"component_appid": s.appID, "authorization_code": code}, &out)
	})
	if err != nil {
		return Authorization{}, err
	}
	if out.Info.AppID == "" || out.Info.RefreshToken == "" {
		return Authorization{}, errors.New("wechat: api_query_auth answered no authorizer_appid or refresh token")
	}
	return Authorization{AuthorizerAppID: out.Info.AppID, RefreshToken: out.Info.RefreshToken,
		AccessToken: grantedToken("authorizer_access_token", out.Info.AccessToken, out.Info.ExpiresIn, start)}, nil
}

// withTokenDo runs f with the token registered under key and, if upstream
// refuses that token, once more with a replacement (see withToken).
func withTokenDo(ctx context.Context, deps core.Tokens, key string, f func(token string) error) error {
	_, err := withToken(ctx, deps, key, func(token string) (core.Token, error) { return core.Token{}, f(token) })
	return err
}

// ErrNoRefreshToken is returned by an AuthorizerSource whose refresh token
// is not in the shared store: the authorizer must authorize again.
var ErrNoRefreshToken = errors.New("wechat: no authorizer_refresh_token in the shared store")

// ErrNeedsFleetLock is returned by an AuthorizerSource asked to fetch
// without the fleet lock (the store unreachable): the refresh token it
// would rotate could not be saved, so it does not rotate it.
var ErrNeedsFleetLock = errors.New("wechat: an authorizer token is refreshed only under the fleet lock, with the shared store reachable")

// AuthorizerSource fetches the access token of an official account or mini
// program that authorized an Open Platform component, from POST
// /cgi-bin/component/api_authorizer_token (its first fetch returns the
// token saved with SaveFirstToken, if any). Each refresh spends the
// authorizer_refresh_token and gets a new one: the Source reads it from the
// shared store (sealed with a SecretBox) and writes the new one back under
// the fleet lock before returning the access token. If the node dies
// between the upstream call and that write, the next holder uses the old
// refresh token, which upstream keeps honouring for a few minutes.
type AuthorizerSource struct {
	componentKey   string
	componentAppID string
	appID          string
	box            *SecretBox
	c              client

	mu      sync.Mutex
	heldKey string       // the state key held is the refresh token of
	held    refreshState // the newest link of the chain this node saw
}

// AuthorizerToken returns the Source of an authorizer's access token.
// componentKey is the key the component's ComponentSource is registered
// under; box seals the refresh token at rest.
func AuthorizerToken(componentKey, componentAppID, authorizerAppID string, box *SecretBox, opts ...Option) *AuthorizerSource {
	return &AuthorizerSource{componentKey: componentKey, componentAppID: componentAppID, appID: authorizerAppID, box: box,
		c: newClient(WeChatBaseURL, opts)}
}

// Identity implements core.Identified; the Manager appends the
// component's identity (see core.Dependent).
func (s *AuthorizerSource) Identity() string { return "authorizer:" + s.appID }

// DependsOn implements core.Dependent.
func (s *AuthorizerSource) DependsOn() string { return s.componentKey }

// Verify implements core.Verifier with /cgi-bin/get_api_domain_ip.
func (s *AuthorizerSource) Verify(ctx context.Context, token string) (bool, error) {
	return s.c.verify(ctx, token)
}

// Fetch implements core.Source.
func (s *AuthorizerSource) Fetch(ctx context.Context, req core.FetchRequest) (core.Token, error) {
	if req.SetState == nil || req.State == nil {
		return core.Token{}, ErrNeedsFleetLock
	}
	if tok, ok, err := takeFirstToken(ctx, req); ok || err != nil {
		return tok, err
	}
	key := req.StatePrefix + RefreshTokenState
	cur, err := s.current(ctx, req, key)
	if err != nil {
		return core.Token{}, err
	}
	rt, err := s.box.Open(key, cur.Sealed)
	if err != nil {
		return core.Token{}, fmt.Errorf("wechat: authorizer %s: %w", s.appID, err)
	}
	var tok core.Token
	var raw []byte
	err = withTokenDo(ctx, req.Deps, s.componentKey, func(componentToken string) error {
		tok, raw, err = s.c.callCredential(ctx, req.Now, http.MethodPost, "/cgi-bin/component/api_authorizer_token",
			url.Values{"component_access_token": {componentToken}},
			map[string]string{"component_appid": s.componentAppID, "authorizer_appid": s.appID, "authorizer_refresh_token": string(rt)},
			"authorizer_access_token")
		return err
	})
	if err != nil {
		return core.Token{}, err
	}
	var out struct {
		RefreshToken string `json:"authorizer_refresh_token"`
	}
	_ = json.Unmarshal(raw, &out) // the answer parsed already: it is JSON
	if out.RefreshToken != "" && out.RefreshToken != string(rt) {
		// Saved before the access token is handed out: a node that cannot
		// save it discards the token, and the old refresh token, still
		// honoured for a few minutes, serves the next attempt.
		next := refreshState{V: 1, Seq: nextSeq(cur.Seq), Sealed: s.box.Seal(key, []byte(out.RefreshToken))}
		if err := req.SetState(ctx, key, next.encode(), 0); err != nil {
			return core.Token{}, fmt.Errorf("wechat: authorizer %s: saving the rotated refresh token: %w", s.appID, err)
		}
		cur = next
	}
	s.hold(key, cur)
	return tok, nil
}
