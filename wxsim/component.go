package wxsim

import (
	"context"
	"net/http"
	"time"

	"github.com/wxtoken/wxtoken/wechat/callback"
)

// ComponentTicketLifetime is how long the Open Platform accepts a pushed
// component_verify_ticket.
const ComponentTicketLifetime = 12 * time.Hour

// component is a WeChat Open Platform third-party platform.
type component struct {
	secret  string
	tickets map[string]time.Time // component_verify_ticket -> expiry
	codes   map[string]authCode  // authorization_code -> authorizer appid (as corp)
	push    *pusher
}

// authorizer is an official account or mini program that authorized a
// component.
type authorizer struct {
	refresh string    // the newest authorizer_refresh_token
	since   time.Time // when it authorized
}

// AddComponent registers an Open Platform third-party platform.
func (s *Sim) AddComponent(appID, secret string) {
	s.mu.Lock()
	s.components[appID] = &component{secret: secret, tickets: map[string]time.Time{}, codes: map[string]authCode{}}
	s.mu.Unlock()
}

// SetComponentCallback makes the simulator push appID's notices
// (component_verify_ticket, authorized, unauthorized) to cb, sealed for
// the component appid.
func (s *Sim) SetComponentCallback(appID string, cb Callback) error {
	return s.setCallback(pushComponent, appID, cb)
}

// IssueComponentTicket makes a component_verify_ticket for appID without
// pushing it, and returns it ("" for an unknown component).
func (s *Sim) IssueComponentTicket(appID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.components[appID]
	if c == nil {
		return ""
	}
	t := "ticket@@@" + randomValue(32)
	c.tickets[t] = s.now().Add(ComponentTicketLifetime)
	return t
}

// DeliverComponentTicket issues a component_verify_ticket and pushes it to
// the component's callback, as the Open Platform does every 10 minutes.
func (s *Sim) DeliverComponentTicket(ctx context.Context, appID string) (string, error) {
	p, err := s.pusherOf(pushComponent, appID)
	if err != nil {
		return "", err
	}
	t := s.IssueComponentTicket(appID)
	now := s.now()
	return t, p.push(ctx, callback.Event{InfoType: callback.InfoComponentVerifyTicket, AppID: appID, CreateTime: now.Unix(), Ticket: t}, now)
}

// UpdateAuthorization has authorizerAppID change the permissions it
// granted componentAppID: an updateauthorized notice with a new
// authorization code (returned) is pushed; the authorizer's refresh tokens
// keep working.
func (s *Sim) UpdateAuthorization(ctx context.Context, componentAppID, authorizerAppID string) (string, error) {
	return s.pushAuthorization(ctx, callback.InfoUpdateAuthorized, componentAppID, authorizerAppID)
}

// AuthorizeApp has authorizerAppID (an official account or mini program)
// authorize componentAppID: an authorization_code, exchangeable with
// api_query_auth for AuthCodeLifetime, is pushed as authorized and
// returned.
func (s *Sim) AuthorizeApp(ctx context.Context, componentAppID, authorizerAppID string) (string, error) {
	return s.pushAuthorization(ctx, callback.InfoAuthorized, componentAppID, authorizerAppID)
}

// pushAuthorization makes an authorization code for authorizerAppID and
// pushes it in a notice of infoType.
func (s *Sim) pushAuthorization(ctx context.Context, infoType, componentAppID, authorizerAppID string) (string, error) {
	p, err := s.pusherOf(pushComponent, componentAppID)
	if err != nil {
		return "", err
	}
	now := s.now()
	code := "queryauthcode@@@" + randomValue(24)
	s.mu.Lock()
	s.components[componentAppID].codes[code] = authCode{corp: authorizerAppID, expires: now.Add(AuthCodeLifetime)}
	s.mu.Unlock()
	return code, p.push(ctx, callback.Event{InfoType: infoType, AppID: componentAppID, CreateTime: now.Unix(),
		AuthorizerAppID: authorizerAppID, AuthorizationCode: code, AuthorizationCodeExpiredTime: now.Add(AuthCodeLifetime).Unix()}, now)
}

// UnauthorizeApp has authorizerAppID withdraw its authorization: its
// refresh tokens and access token stop working at once, and unauthorized
// is pushed.
func (s *Sim) UnauthorizeApp(ctx context.Context, componentAppID, authorizerAppID string) error {
	p, err := s.pusherOf(pushComponent, componentAppID)
	if err != nil {
		return err
	}
	now := s.now()
	s.mu.Lock()
	k := authKey{componentAppID, authorizerAppID}
	delete(s.authorizers, k)
	owner := refreshOwner(componentAppID, authorizerAppID)
	for _, rec := range s.refresh {
		if rec.owner == owner {
			rec.retireBy(now)
		}
	}
	if _, rec, ok := s.live(authorizerID(componentAppID, authorizerAppID), now); ok {
		rec.retireBy(now)
	}
	s.mu.Unlock()
	return p.push(ctx, callback.Event{InfoType: callback.InfoUnauthorized, AppID: componentAppID, CreateTime: now.Unix(),
		AuthorizerAppID: authorizerAppID}, now)
}

// AuthorizerRefreshToken returns the newest authorizer_refresh_token of an
// authorizer, or "".
func (s *Sim) AuthorizerRefreshToken(componentAppID, authorizerAppID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.authorizers[authKey{componentAppID, authorizerAppID}]; a != nil {
		return a.refresh
	}
	return ""
}

// authorizerID is the credential id of an authorizer's access token, as
// the wechat package names it: the authorizer's, then its component's.
func authorizerID(comp, auth string) string { return "authorizer:" + auth + "@component:" + comp }

func refreshOwner(comp, auth string) string { return "refresh:" + comp + ":" + auth }

// componentToken is POST /cgi-bin/component/api_component_token: a new
// token on every call (the previous one retired after the overlap), for a
// live component_verify_ticket.
func (s *Sim) componentToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_appsecret"`
		Ticket string `json:"component_verify_ticket"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.components[body.AppID]
	switch {
	case c == nil:
		fail(w, 40013)
		return
	case c.secret != body.Secret:
		fail(w, 40125)
		return
	}
	exp, ok := c.tickets[body.Ticket]
	switch {
	case !ok:
		fail(w, 61006)
		return
	case !now.Before(exp):
		fail(w, 61005)
		return
	}
	v, rec := s.replace("component:"+body.AppID, now)
	grant(w, "component_access_token", v, rec.expires, now, false)
}

// startPushTicket is POST /cgi-bin/component/api_start_push_ticket: the
// Open Platform pushes a component_verify_ticket at once (here: right
// after answering).
func (s *Sim) startPushTicket(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_secret"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	c := s.components[body.AppID]
	var secret string
	var push *pusher
	if c != nil {
		secret, push = c.secret, c.push
	}
	s.mu.Unlock()
	switch {
	case c == nil:
		fail(w, 40013)
		return
	case secret != body.Secret:
		fail(w, 40125)
		return
	}
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
	if push != nil {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = s.DeliverComponentTicket(ctx, body.AppID)
		}()
	}
}

// componentOf checks a component_access_token of appID. Callers hold s.mu.
func (s *Sim) componentOf(w http.ResponseWriter, r *http.Request, appID string, now time.Time) bool {
	owner, code := s.verify(r.URL.Query().Get("component_access_token"), now)
	if code == 0 && owner != "component:"+appID {
		code = 40014
	}
	if code != 0 {
		fail(w, code)
		return false
	}
	return true
}

// queryAuth is POST /cgi-bin/component/api_query_auth: an authorization
// code, once, for the authorizer's first access token and refresh token.
func (s *Sim) queryAuth(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AppID string `json:"component_appid"`
		Code  string `json:"authorization_code"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.componentOf(w, r, body.AppID, now) {
		return
	}
	c := s.components[body.AppID]
	ac, ok := c.codes[body.Code]
	if !ok || !now.Before(ac.expires) {
		fail(w, 61009)
		return
	}
	delete(c.codes, body.Code)
	v, rec := s.replace(authorizerID(body.AppID, ac.corp), now)
	rt := s.newRefresh(body.AppID, ac.corp, now)
	writeJSON(w, map[string]any{"authorization_info": map[string]any{
		"authorizer_appid": ac.corp, "authorizer_access_token": v, "expires_in": expiresIn(rec.expires, now),
		"authorizer_refresh_token": rt, "func_info": []any{},
	}})
}

// newRefresh issues an authorizer's next refresh token; the previous one
// keeps working for the overlap, as upstream's does for a few minutes.
// Callers hold s.mu.
func (s *Sim) newRefresh(comp, auth string, now time.Time) string {
	k := authKey{comp, auth}
	a := s.authorizers[k]
	if a == nil {
		a = &authorizer{since: now}
		s.authorizers[k] = a
	}
	if prev := s.refresh[a.refresh]; prev != nil {
		prev.retireBy(now.Add(s.overlap))
	}
	rt := "refreshtoken@@@" + randomValue(32)
	s.refresh[rt] = &issued{owner: refreshOwner(comp, auth), expires: now.Add(100 * 365 * 24 * time.Hour)}
	a.refresh = rt
	return rt
}

// authorizerToken is POST /cgi-bin/component/api_authorizer_token: a live
// refresh token for a new access token and a new refresh token.
func (s *Sim) authorizerToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AppID        string `json:"component_appid"`
		Authorizer   string `json:"authorizer_appid"`
		RefreshToken string `json:"authorizer_refresh_token"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.componentOf(w, r, body.AppID, now) {
		return
	}
	rec := s.refresh[body.RefreshToken]
	if rec == nil || rec.owner != refreshOwner(body.AppID, body.Authorizer) || !rec.valid(now) {
		fail(w, 61023)
		return
	}
	v, tok := s.replace(authorizerID(body.AppID, body.Authorizer), now)
	rt := s.newRefresh(body.AppID, body.Authorizer, now)
	writeJSON(w, map[string]any{"authorizer_access_token": v, "expires_in": expiresIn(tok.expires, now),
		"authorizer_refresh_token": rt})
}
