package server

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/wechat"
)

// quotaResponse is GET /v1/quota/{app}: upstream's own count of one API of
// the app today.
type quotaResponse struct {
	App        string `json:"app"`
	CgiPath    string `json:"cgi_path"`
	DailyLimit int64  `json:"daily_limit"`
	Used       int64  `json:"used"`
	Remain     int64  `json:"remain"`
}

// handleQuota answers upstream's quota of ?cgi_path= (default
// /cgi-bin/token) for an app the client may use; upstream's refusals come
// back as 502 with upstream's errcode (76021, 76022).
func (s *Server) handleQuota(w http.ResponseWriter, r *http.Request) {
	a, ok := s.lookupApp(w, r)
	if !ok {
		return
	}
	path := r.URL.Query().Get("cgi_path")
	if path == "" {
		path = quotaPath
	}
	if !hasQuota(a) {
		writeError(w, http.StatusNotFound, CodeUnknownApp, "app "+a.ID+" is kind "+a.Kind+": upstream has no quota tool for it")
		return
	}
	if len(path) > 256 || path[0] != '/' {
		writeError(w, http.StatusBadRequest, CodeMalformed, `"cgi_path" must be an API path such as /cgi-bin/token`)
		return
	}
	q, err := s.quotas.get(a.ID+" "+path, func() (wechat.Quota, error) {
		if stored, ok := s.upstreamQuota(r.Context(), a); ok && path == quotaPath && time.Since(stored.At) < quotaAnswerTTL {
			return stored.Quota, nil // the fleet's poller read it lately
		}
		return s.Quota(r.Context(), a.ID, path)
	})
	if err != nil {
		writeRequestError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, quotaResponse{App: a.ID, CgiPath: path, DailyLimit: q.DailyLimit, Used: q.Used, Remain: q.Remain})
}

// clearResponse is POST /v1/quota/{app}/clear's answer.
type clearResponse struct {
	App             string `json:"app"`
	Cleared         bool   `json:"cleared"`
	ClearsThisMonth int    `json:"clears_this_month"`
	ClearsPerMonth  int    `json:"clears_per_month"`
}

// handleQuotaClear runs upstream's clear_quota for the app, for a client
// with the admin scope only, whose body repeats the app's id
// ({"confirm":"APP"}): a typo in a script's URL does not spend one of the
// month's ten uses on another app. 429 past the month's limit.
func (s *Server) handleQuotaClear(w http.ResponseWriter, r *http.Request) {
	a, ok := s.lookupApp(w, r)
	if !ok {
		return
	}
	if !s.clients.admins[clientName(w, r)] {
		writeError(w, http.StatusForbidden, CodeForbidden, "clearing an app's quota needs a client with the admin scope")
		return
	}
	var body struct {
		Confirm string `json:"confirm"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.Confirm != a.ID {
		writeError(w, http.StatusBadRequest, CodeMalformed, `"confirm" must be the app's id, `+a.ID+`: nothing was cleared`)
		return
	}
	n, err := s.ClearQuota(r.Context(), a.ID)
	switch {
	case errors.Is(err, ErrClearLimit):
		writeError(w, http.StatusTooManyRequests, CodeRateLimited, err.Error())
		return
	case err != nil:
		writeRequestError(w, r, err)
		return
	}
	s.log.Warn("wxtoken: an app's quota was cleared upstream", "app", a.ID, "client", clientName(w, r), "clears_this_month", n)
	writeJSON(w, http.StatusOK, clearResponse{App: a.ID, Cleared: true, ClearsThisMonth: n, ClearsPerMonth: ClearsPerMonth})
}

// quotaAnswerTTL is how long an instance answers GET /v1/quota from what
// it (or, for /cgi-bin/token, the fleet's poller) read: however often
// clients ask, upstream's quota/get, which has a daily limit of its own,
// is asked at most once a minute per app and API by each instance.
const quotaAnswerTTL = time.Minute

// quotaCache keeps upstream's recent answers for GET /v1/quota; misses
// are fetched one at a time, so concurrent ones share one upstream call.
type quotaCache struct {
	fetchMu sync.Mutex // held while fetching
	mu      sync.Mutex // guards entries
	entries map[string]quotaEntry
}

type quotaEntry struct {
	q  wechat.Quota
	at time.Time
}

// maxQuotaEntries bounds the cache: clients choose the paths.
const maxQuotaEntries = 1024

// get returns key's answer if it is younger than quotaAnswerTTL, else
// fetch's, kept on success.
func (c *quotaCache) get(key string, fetch func() (wechat.Quota, error)) (wechat.Quota, error) {
	if q, ok := c.fresh(key); ok {
		return q, nil
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	if q, ok := c.fresh(key); ok { // fetched while this caller waited
		return q, nil
	}
	q, err := fetch()
	if err != nil {
		return q, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxQuotaEntries {
		c.entries = map[string]quotaEntry{} // starting over is cheaper than an LRU here
	}
	c.entries[key] = quotaEntry{q: q, at: time.Now()}
	return q, nil
}

func (c *quotaCache) fresh(key string) (wechat.Quota, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return e.q, ok && time.Since(e.at) < quotaAnswerTTL
}
