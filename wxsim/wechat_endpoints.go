package wxsim

import (
	"net/http"
	"time"
)

func (s *Sim) routes() {
	mux := http.NewServeMux()
	handle := func(path string, h http.HandlerFunc) { mux.Handle(path, s.faulty(path, h)) }
	handle("/cgi-bin/token", s.token)
	handle("/cgi-bin/stable_token", s.stableToken)
	handle("/cgi-bin/ticket/getticket", s.ticket("jsapi", "jsapi"))
	handle("/cgi-bin/gettoken", s.wecomToken)
	handle("/cgi-bin/get_jsapi_ticket", s.ticket("wecom_jsapi", ""))
	handle("/cgi-bin/ticket/get", s.ticket("wecom_agent", "agent_config"))
	handle("/cgi-bin/service/get_provider_token", s.providerToken)
	handle("/cgi-bin/service/get_suite_token", s.suiteToken)
	handle("/cgi-bin/service/get_corp_token", s.corpToken)
	handle("/cgi-bin/service/get_permanent_code", s.permanentCode)
	handle("/cgi-bin/component/api_component_token", s.componentToken)
	handle("/cgi-bin/component/api_start_push_ticket", s.startPushTicket)
	handle("/cgi-bin/component/api_query_auth", s.queryAuth)
	handle("/cgi-bin/component/api_authorizer_token", s.authorizerToken)
	handle("/cgi-bin/component/api_get_authorizer_list", s.authorizerList)
	mux.HandleFunc(BusinessPath, s.businessCheck)
	mux.HandleFunc(ProbePath, s.probe)
	s.openAPIRoutes(mux)
	s.adminRoutes(mux)
	s.mux = mux
}

// ServeHTTP implements http.Handler.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serveRecorded(w, r) }

// checkApp validates appid and secret as /cgi-bin/token and stable_token
// do, returning the errcode to answer or 0. Callers hold s.mu.
func (s *Sim) checkApp(appID, secret string) int {
	switch {
	case appID == "":
		return 41002
	case secret == "":
		return 41004
	}
	want, ok := s.apps[appID]
	switch {
	case !ok:
		return 40013
	case want != secret:
		return 40125
	}
	return 0
}

// token is GET /cgi-bin/token: every call issues a new token and retires
// the previous one after the overlap.
func (s *Sim) token(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appID := q.Get("appid")
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Get("grant_type") != "client_credential" {
		fail(w, 40002)
		return
	}
	if code := s.checkApp(appID, q.Get("secret")); code != 0 {
		fail(w, code)
		return
	}
	id := "token:" + appID
	c := s.counter(s.daily, id)
	if s.dailyLimit > 0 && c.bump(now) >= s.dailyLimit {
		fail(w, 45009)
		return
	}
	v, rec := s.replace(id, now)
	grant(w, "access_token", v, rec.expires, now, false)
}

// replace issues a new value of credential id and retires the previous one
// after the overlap, as /cgi-bin/token does. Callers hold s.mu.
func (s *Sim) replace(id string, now time.Time) (string, *issued) {
	if _, prev, ok := s.live(id, now); ok {
		prev.retireBy(now.Add(s.overlap))
	}
	return s.issue(id, now)
}

// stableToken is POST /cgi-bin/stable_token: normal mode returns the live
// token until renewBefore its expiry; force_refresh retires it at once,
// within its quota and spacing (a call too soon is answered in normal
// mode).
func (s *Sim) stableToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if body.GrantType != "client_credential" {
		fail(w, 40002)
		return
	}
	if code := s.checkApp(body.AppID, body.Secret); code != 0 {
		fail(w, code)
		return
	}
	id := "stable:" + body.AppID
	v, rec, ok := s.live(id, now)
	if body.ForceRefresh {
		c := s.counter(s.forces, id)
		if !c.last.IsZero() && now.Sub(c.last) < s.forceInterval {
			body.ForceRefresh = false
		} else if c.bump(now) >= s.forcePerDay {
			fail(w, 45009)
			return
		}
	}
	renew := min(s.stableRenew, s.lifetime/2)
	switch {
	case body.ForceRefresh:
		if ok {
			rec.retired = now
		}
	case ok && now.Before(rec.expires.Add(-renew)):
		grant(w, "access_token", v, rec.expires, now, false)
		return
	}
	v, rec = s.issue(id, now)
	grant(w, "access_token", v, rec.expires, now, false)
}

func (s *Sim) counter(m map[string]*dayCounter, id string) *dayCounter {
	c := m[id]
	if c == nil {
		c = &dayCounter{}
		m[id] = c
	}
	return c
}

// ticket serves the ticket endpoints: the access_token is checked as a
// business API checks it, then a ticket is issued for its owner.
func (s *Sim) ticket(kind, wantType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		now := s.now()
		s.mu.Lock()
		defer s.mu.Unlock()
		owner, code := s.verify(q.Get("access_token"), now)
		if code != 0 {
			fail(w, code)
			return
		}
		if wantType != "" && q.Get("type") != wantType {
			fail(w, 40014)
			return
		}
		v, rec := s.issue(kind+"@"+owner, now)
		grant(w, "ticket", v, rec.expires, now, true)
	}
}
