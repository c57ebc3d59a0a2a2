package wxsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/internal/beijing"
)

// Upstream's account tools, as the simulator answers them.
const (
	QuotaPath          = "/cgi-bin/openapi/quota/get"
	RidPath            = "/cgi-bin/openapi/rid/get"
	ClearQuotaPath     = "/cgi-bin/clear_quota"
	ComponentClearPath = "/cgi-bin/component/clear_quota"
	// ClearsPerMonth is how many clear_quota calls an account may make in
	// a (Beijing) calendar month; the next answers 48006.
	ClearsPerMonth = 10
	// DefaultAPIDailyLimit is the daily limit quota/get reports for an API
	// the simulator serves that has no limit of its own here.
	DefaultAPIDailyLimit = 100000
)

func init() {
	for code, msg := range map[int]string{
		48001: "api unauthorized",
		48006: "forbid to clear quota because of reaching the limit",
		76001: "rid not found",
		76002: "rid is error",
		76021: "cgi_path not found, please check",
		76022: "could not use this cgi_path, no permission",
	} {
		errmsgs[code] = msg
	}
}

// openAPIRoutes adds the account tools to mux.
func (s *Sim) openAPIRoutes(mux *http.ServeMux) {
	mux.HandleFunc(QuotaPath, s.post(s.quota))
	mux.HandleFunc(RidPath, s.post(s.ridInfo))
	mux.HandleFunc(ClearQuotaPath, s.post(s.clearQuota("appid")))
	mux.HandleFunc(ComponentClearPath, s.post(s.clearQuota("component_appid")))
}

// post wraps an account tool: POST only, with a JSON body, called with a
// token this simulator issued; h gets the decoded body and the token's
// account and owner, under s.mu.
func (s *Sim) post(h func(w http.ResponseWriter, body map[string]any, account, owner string, now time.Time)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			fail(w, 43002)
			return
		}
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if len(strings.TrimSpace(string(raw))) == 0 {
			fail(w, 44002)
			return
		}
		var body map[string]any
		if json.Unmarshal(raw, &body) != nil {
			fail(w, 47001)
			return
		}
		q := r.URL.Query()
		tok := q.Get("access_token")
		if tok == "" {
			tok = q.Get("component_access_token")
		}
		now := s.now()
		s.mu.Lock()
		defer s.mu.Unlock()
		owner, code := s.verify(tok, now)
		if code != 0 {
			fail(w, code)
			return
		}
		if strings.HasPrefix(owner, "wecom:") || strings.Contains(owner, "corp:") {
			fail(w, 48001) // WeCom has no such tool
			return
		}
		h(w, body, accountOfOwner(owner), owner, now)
	}
}

// quota is POST QuotaPath {"cgi_path"}: the account's daily limit, calls
// today and what remains for that API.
func (s *Sim) quota(w http.ResponseWriter, body map[string]any, account, _ string, now time.Time) {
	path, _ := body["cgi_path"].(string)
	switch {
	case path == "":
		fail(w, 47001)
		return
	case strings.Contains(path, "/sns/"):
		fail(w, 76022)
		return
	}
	limit, used, ok := s.quotaOf(account, path, now)
	if !ok {
		fail(w, 76021)
		return
	}
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok",
		"quota": map[string]int{"daily_limit": limit, "used": used, "remain": max(limit-used, 0)}})
}

// quotaOf returns account's limit and calls today for path, or false for
// a path the simulator does not serve. Callers hold s.mu.
func (s *Sim) quotaOf(account, path string, now time.Time) (limit, used int, ok bool) {
	if path == "/cgi-bin/token" {
		return s.dailyLimit, today(s.daily["token:"+account], now), true
	}
	if _, pattern := s.mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}}); pattern == "" || strings.HasPrefix(pattern, "/wxsim/") {
		return 0, 0, false
	}
	limit = DefaultAPIDailyLimit
	if path == ProbePath {
		limit = DefaultProbeLimit
	}
	return limit, today(s.calls[account+" "+path], now), true
}

// today is c's count if it counts today.
func today(c *dayCounter, now time.Time) int {
	if c == nil || c.day != beijing.Day(now) {
		return 0
	}
	return c.count
}

// ridInfo is POST RidPath {"rid"}: what upstream kept of a failed call of
// the same account, for 7 days.
func (s *Sim) ridInfo(w http.ResponseWriter, body map[string]any, account, _ string, now time.Time) {
	rid, _ := body["rid"].(string)
	rid = strings.TrimSpace(rid)
	if rid == "" || !ridPattern.MatchString("rid: "+rid) {
		fail(w, 76002)
		return
	}
	rec, ok := s.rids[rid]
	if !ok || rec.account != account || now.Sub(rec.at) > RidLifetime {
		fail(w, 76001)
		return
	}
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "request": map[string]any{
		"invoke_time": rec.at.Unix(), "cost_in_ms": rec.cost.Milliseconds(), "request_url": rec.url,
		"request_body": rec.body, "response_body": rec.response, "client_ip": rec.clientIP}})
}

// clearQuota is POST ClearQuotaPath {"appid"} (or the component's, with
// its token and component_appid): the account's calls today count from
// zero again, ClearsPerMonth times a month.
func (s *Sim) clearQuota(field string) func(http.ResponseWriter, map[string]any, string, string, time.Time) {
	return func(w http.ResponseWriter, body map[string]any, account, owner string, now time.Time) {
		id, _ := body[field].(string)
		if id == "" || id != account || (field == "component_appid") != strings.HasPrefix(owner, "component:") {
			fail(w, 40013)
			return
		}
		c := s.counter(s.clears, account)
		month := beijing.Day(now)[:7]
		if c.day != month {
			c.day, c.count = month, 0
		}
		if c.count >= ClearsPerMonth {
			fail(w, 48006)
			return
		}
		c.count++
		for _, id := range []string{"token:" + account, "component:" + account} {
			if d := s.daily[id]; d != nil {
				d.count = 0
			}
		}
		for k, d := range s.calls {
			if strings.HasPrefix(k, account+" ") {
				d.count = 0
			}
		}
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
	}
}

// Clears returns how many clear_quota calls account made this month.
func (s *Sim) Clears(account string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clears[account]
	if c == nil || c.day != beijing.Day(s.now())[:7] {
		return 0
	}
	return c.count
}

// Calls returns how many calls account (an appid or corpid) made to path
// today, as quota/get counts them.
func (s *Sim) Calls(account, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return today(s.calls[account+" "+path], s.now())
}
