package wxsim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// RidLifetime is how long upstream can explain a failed call's rid
// (/cgi-bin/openapi/rid/get): 7 days; an older rid answers 76001.
const RidLifetime = 7 * 24 * time.Hour

// maxRids bounds the failed calls the simulator remembers; the oldest go
// first.
const maxRids = 10000

// ridRecord is what upstream keeps of a failed call, for rid/get.
type ridRecord struct {
	account  string // the account that made the call, by appid or corpid
	at       time.Time
	cost     time.Duration
	url      string // the query
	body     string
	response string
	clientIP string
}

var ridPattern = regexp.MustCompile(`rid: ([0-9a-f]+)`)

// recorder tees what a handler writes, so that a failed call's answer can
// be kept under its rid.
type recorder struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.buf.Len() < 4096 {
		r.buf.Write(b[:min(len(b), 4096-r.buf.Len())])
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (and the drop fault's hijack) reach
// the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack implements http.Hijacker for the drop fault.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// serveRecorded runs the simulator's mux, keeping every errcode answer
// under its rid with the account that made the call.
func (s *Sim) serveRecorded(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/wxsim/") {
		s.mux.ServeHTTP(w, r)
		return
	}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, 64<<10))
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	start := s.now()
	s.mu.Lock()
	account := s.accountOf(r, body)
	if account != "" {
		s.counter(s.calls, account+" "+r.URL.Path).bump(start)
	}
	s.mu.Unlock()
	rec := &recorder{ResponseWriter: w}
	s.mux.ServeHTTP(rec, r)
	m := ridPattern.FindSubmatch(rec.buf.Bytes())
	if m == nil {
		return
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keepRid(string(m[1]), ridRecord{account: account, at: start, cost: s.now().Sub(start),
		url: r.URL.RawQuery, body: string(body), response: strings.TrimSpace(rec.buf.String()), clientIP: ip})
}

// keepRid remembers one failed call. Callers hold s.mu.
func (s *Sim) keepRid(rid string, rec ridRecord) {
	if s.rids == nil {
		s.rids = map[string]ridRecord{}
	}
	if len(s.ridOrder) >= maxRids {
		delete(s.rids, s.ridOrder[0])
		s.ridOrder = s.ridOrder[1:]
	}
	s.rids[rid] = rec
	s.ridOrder = append(s.ridOrder, rid)
}

// accountOf names the account a call was made for: the owner of its
// token, or the appid (corpid) it names. Callers hold s.mu.
func (s *Sim) accountOf(r *http.Request, body []byte) string {
	q := r.URL.Query()
	for _, p := range []string{"access_token", "component_access_token", "suite_access_token", "provider_access_token"} {
		if t := q.Get(p); t != "" {
			if rec, ok := s.tokens[t]; ok {
				return accountOfOwner(rec.owner)
			}
		}
	}
	for _, p := range []string{"appid", "corpid"} {
		if v := q.Get(p); v != "" {
			return v
		}
	}
	var b struct {
		AppID          string `json:"appid"`
		ComponentAppID string `json:"component_appid"`
	}
	if json.Unmarshal(body, &b) == nil {
		if b.AppID != "" {
			return b.AppID
		}
		return b.ComponentAppID
	}
	return ""
}

// accountOfOwner turns a credential id ("token:wx1", "stable:wx1",
// "jsapi@token:wx1", "wecom:ww1:1000002", "authorizer:wx2@component:wx9")
// into the account it belongs to ("wx1", "ww1", "wx2").
func accountOfOwner(owner string) string {
	if i := strings.LastIndex(owner, "@"); i >= 0 && !strings.HasPrefix(owner, "authorizer:") {
		owner = owner[i+1:]
	}
	owner = strings.SplitN(owner, "@", 2)[0]
	parts := strings.Split(owner, ":")
	if len(parts) < 2 {
		return owner
	}
	return parts[1]
}
