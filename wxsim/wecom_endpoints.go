package wxsim

import (
	"net/http"
	"strings"
	"time"
)

// wecomToken is GET /cgi-bin/gettoken: one token per app (corpid + that
// app's secret), the same one while it is valid unless configured
// otherwise. WeCom answers a wrong secret with 40001.
func (s *Sim) wecomToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	corp, secret := q.Get("corpid"), q.Get("corpsecret")
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	agent, ok := s.wecom[wecomKey{corp, secret}]
	if !ok {
		if s.knownCorp(corp) {
			fail(w, 40001)
		} else {
			fail(w, 40013)
		}
		return
	}
	id := "wecom:" + corp + ":" + agent
	if v, rec, ok := s.live(id, now); ok && !s.wecomNewPerCall {
		grant(w, "access_token", v, rec.expires, now, true)
		return
	}
	v, rec := s.issue(id, now)
	grant(w, "access_token", v, rec.expires, now, true)
}

// grantLive answers the live value of credential id while it is valid,
// and a new one after it expires, as WeCom's service APIs do. Callers hold
// s.mu.
func (s *Sim) grantLive(w http.ResponseWriter, id, field string, now time.Time) {
	v, rec, ok := s.live(id, now)
	if !ok {
		v, rec = s.issue(id, now)
	}
	grant(w, field, v, rec.expires, now, false)
}

func (s *Sim) knownCorp(corp string) bool {
	for k := range s.wecom {
		if k.corp == corp {
			return true
		}
	}
	return false
}

// providerToken is POST /cgi-bin/service/get_provider_token: the live
// token while it is valid.
func (s *Sim) providerToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		CorpID string `json:"corpid"`
		Secret string `json:"provider_secret"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	want, ok := s.provs[body.CorpID]
	switch {
	case !ok:
		fail(w, 40013)
	case want != body.Secret:
		fail(w, 40001)
	default:
		s.grantLive(w, "provider:"+body.CorpID, "provider_access_token", now)
	}
}

// suiteToken is POST /cgi-bin/service/get_suite_token: the live token
// while it is valid.
func (s *Sim) suiteToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		SuiteID string `json:"suite_id"`
		Secret  string `json:"suite_secret"`
		Ticket  string `json:"suite_ticket"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.suites[body.SuiteID]
	switch {
	case !ok:
		fail(w, 40082)
	case st.secret != body.Secret:
		fail(w, 40083)
	case !now.Before(st.tickets[body.Ticket]):
		fail(w, 40085)
	default:
		s.grantLive(w, "suite:"+body.SuiteID, "suite_access_token", now)
	}
}

// corpToken is POST /cgi-bin/service/get_corp_token?suite_access_token=.
func (s *Sim) corpToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AuthCorpID    string `json:"auth_corpid"`
		PermanentCode string `json:"permanent_code"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	suiteID, live := s.suiteOf(w, r, now)
	if !live {
		return
	}
	owner := "suite:" + suiteID
	want, ok := s.authed[authKey{suiteID, body.AuthCorpID}]
	switch {
	case !ok:
		fail(w, 40013)
	case want != body.PermanentCode:
		fail(w, 40084)
	default:
		v, rec := s.issue("corp:"+body.AuthCorpID+"@"+owner, now)
		grant(w, "access_token", v, rec.expires, now, false)
	}
}

// suiteOf checks the request's suite_access_token and returns its suite
// id; it answers the errcode itself (42009 for an expired one) and
// reports false when the token is not a live suite token. Callers hold
// s.mu.
func (s *Sim) suiteOf(w http.ResponseWriter, r *http.Request, now time.Time) (string, bool) {
	owner, code := s.verify(r.URL.Query().Get("suite_access_token"), now)
	if code == 42001 {
		code = 42009
	}
	suiteID, isSuite := strings.CutPrefix(owner, "suite:")
	if code == 0 && !isSuite {
		code = 40014
	}
	if code != 0 {
		fail(w, code)
		return "", false
	}
	return suiteID, true
}
