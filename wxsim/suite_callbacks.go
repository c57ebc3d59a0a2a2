package wxsim

import (
	"context"
	"net/http"

	"github.com/wxtoken/wxtoken/wechat/callback"
)

// SetSuiteCallback makes the simulator push suiteID's instruction
// callbacks (suite_ticket, create_auth, cancel_auth) to cb, sealed for the
// suite id as WeCom seals them.
func (s *Sim) SetSuiteCallback(suiteID string, cb Callback) error {
	return s.setCallback(pushSuite, suiteID, cb)
}

// DeliverSuiteTicket issues a suite_ticket, as PushSuiteTicket does, and
// pushes it to the suite's callback.
func (s *Sim) DeliverSuiteTicket(ctx context.Context, suiteID string) (string, error) {
	p, err := s.pusherOf(pushSuite, suiteID)
	if err != nil {
		return "", err
	}
	t := s.PushSuiteTicket(suiteID)
	now := s.now()
	return t, p.push(ctx, callback.Event{InfoType: callback.InfoSuiteTicket, SuiteID: suiteID, TimeStamp: now.Unix(), SuiteTicket: t}, now)
}

// InstallCorp has corpID install suiteID, as a customer's admin does: an
// auth_code, exchangeable for AuthCodeLifetime, is pushed as create_auth
// and returned.
func (s *Sim) InstallCorp(ctx context.Context, suiteID, corpID string) (string, error) {
	p, err := s.pusherOf(pushSuite, suiteID)
	if err != nil {
		return "", err
	}
	now := s.now()
	code := randomValue(24)
	s.mu.Lock()
	s.suites[suiteID].codes[code] = authCode{corp: corpID, expires: now.Add(AuthCodeLifetime)}
	s.mu.Unlock()
	return code, p.push(ctx, callback.Event{InfoType: callback.InfoCreateAuth, SuiteID: suiteID, TimeStamp: now.Unix(), AuthCode: code}, now)
}

// UninstallCorp has corpID remove suiteID: its permanent code stops
// working at once, and cancel_auth is pushed.
func (s *Sim) UninstallCorp(ctx context.Context, suiteID, corpID string) error {
	p, err := s.pusherOf(pushSuite, suiteID)
	if err != nil {
		return err
	}
	now := s.now()
	s.mu.Lock()
	delete(s.authed, authKey{suiteID, corpID})
	s.mu.Unlock()
	return p.push(ctx, callback.Event{InfoType: callback.InfoCancelAuth, SuiteID: suiteID, TimeStamp: now.Unix(), AuthCorpID: corpID}, now)
}

// permanentCode is POST /cgi-bin/service/get_permanent_code?suite_access_token=:
// an install's auth_code, once, for the corp's permanent code (and a first
// access_token, which callers may ignore).
func (s *Sim) permanentCode(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AuthCode string `json:"auth_code"`
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
	st := s.suites[suiteID]
	ac, ok := st.codes[body.AuthCode]
	if !ok || !now.Before(ac.expires) {
		fail(w, 40078) // invalid auth_code
		return
	}
	delete(st.codes, body.AuthCode)
	perm := randomValue(32)
	s.authed[authKey{suiteID, ac.corp}] = perm
	v, rec := s.issue("corp:"+ac.corp+"@"+owner, now)
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "access_token": v, "expires_in": expiresIn(rec.expires, now),
		"permanent_code": perm, "auth_corp_info": map[string]string{"corpid": ac.corp, "corp_name": "Corp " + ac.corp}})
}

// PermanentCode returns the permanent code corpID got for suiteID, or ""
// (for tests that check it is never shown).
func (s *Sim) PermanentCode(suiteID, corpID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authed[authKey{suiteID, corpID}]
}
