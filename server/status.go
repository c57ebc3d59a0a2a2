package server

import (
	_ "embed"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/internal/beijing"
)

//go:embed status.html
var statusHTML string

var statusTmpl = template.Must(template.New("status").Parse(statusHTML))

// statusRow is one app on the status page. The token itself is masked.
type statusRow struct {
	ID, Kind, Account      string
	Token                  string
	State                  string // ok, stale, expired, none, failing
	Age, Left              string
	LastRefresh            string
	LastError              string
	CallsToday, DailyLimit int
	Upstream               string   // upstream's own count: "12 / 2000 at 10:05 (Beijing)"; "" when not read
	Tickets                []string // "jsapi: 1h59m left", in kind order
	Tenants                string   // "3 (1 failing: wwcorp02)"; "" for an app without tenants
}

type statusPage struct {
	Now      string
	Day      string // the Beijing day the calls are counted in
	Uptime   string
	Cache    string
	Instance string
	Version  string
	Apps     []statusRow
	// SignedIn: the page was opened with a session cookie (it offers to
	// sign out).
	SignedIn bool
}

// handleStatus renders the HTML status page: each app, its kind, token
// age and time left (value masked), last refresh, last error, tickets,
// tenants served here, and the fleet's upstream calls today (Beijing day)
// against the daily limit. Like GET /v1/status, it lists only the apps the
// client may use.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	page := statusPage{Now: now.UTC().Format(time.RFC3339), Day: beijing.Day(now), Uptime: since(s.started, now),
		Cache: RedactURL(s.cfg.Cache), Instance: s.cfg.Instance}
	name := clientName(w, r)
	for _, a := range s.order {
		if !a.mayUse(name) {
			continue
		}
		row := statusRow{ID: a.ID, Kind: a.Kind, Account: kinds[a.Kind].label(a.AppConfig), DailyLimit: a.DailyLimit, State: "none", Age: "-", Left: "-", LastRefresh: "-"}
		tok, held := s.mgr.Cached(a.tokenKey)
		if held {
			row.Token = mask(tok.Value)
			row.Age = since(tok.IssuedAt, now)
			row.Left = tok.ExpiresIn(now).Round(time.Second).String()
			row.State = "ok"
			if !tok.Valid(now) {
				row.State = "expired"
			}
		}
		id, _ := s.mgr.Identity(a.tokenKey)
		st := s.stats.get(id)
		// The fleet's last refresh: when the token held was fetched, by
		// whichever node fetched it; this instance's own fetch when it
		// holds none.
		switch {
		case held && !tok.IssuedAt.IsZero():
			row.LastRefresh = tok.IssuedAt.UTC().Format(time.RFC3339)
		case !st.lastRefresh.IsZero():
			row.LastRefresh = st.lastRefresh.UTC().Format(time.RFC3339)
		}
		if err := s.mgr.LastError(a.tokenKey); err != nil {
			row.State, row.LastError = "failing", err.Error()
		} else if st.lastError != "" {
			row.LastError = st.lastErrorAt.UTC().Format(time.RFC3339) + ": " + st.lastError
		}
		// The fleet's calls, from the store; this instance's own if the
		// store does not answer.
		row.Tickets = s.ticketStates(a, now)
		row.Tenants = tenantSummary(s.tenantHealth(a))
		row.CallsToday = st.callsToday
		if n, err := s.mgr.CallsToday(r.Context(), a.tokenKey); err == nil {
			row.CallsToday = n
		}
		if q, ok := s.upstreamQuota(r.Context(), a); ok {
			row.Upstream = strconv.FormatInt(q.Used, 10) + " / " + strconv.FormatInt(q.DailyLimit, 10) + " at " + q.At.In(beijing.Location).Format("15:04") + " (Beijing)"
		}
		page.Apps = append(page.Apps, row)
	}
	page.SignedIn = s.statusNeedsKey() && r.Header.Get("Authorization") == ""
	pageHeaders(w)
	if err := statusTmpl.Execute(w, page); err != nil {
		s.log.Warn("wxtoken: rendering the status page", "err", err)
	}
}

// tenantSummary is the status page's line for an app's tenants.
func tenantSummary(h *tenantHealth) string {
	if h == nil {
		return ""
	}
	out := strconv.Itoa(h.Count)
	if h.FailingCount > 0 {
		out += " (" + strconv.Itoa(h.FailingCount) + " failing: " + strings.Join(h.Failing, ", ")
		if h.FailingCount > len(h.Failing) {
			out += ", …"
		}
		out += ")"
	}
	return out
}

// mask shows only the first 6 characters of a credential.
func mask(v string) string {
	if len(v) <= 6 {
		return "******"
	}
	return v[:6] + "…(" + strconv.Itoa(len(v)) + " chars)"
}

func since(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(time.Second).String()
}

// ticketStates says, for each ticket of a, how long the one held lasts.
func (s *Server) ticketStates(a *app, now time.Time) []string {
	kinds := make([]string, 0, len(a.tickets))
	for kind := range a.tickets {
		kinds = append(kinds, kind)
	}
	slices.Sort(kinds)
	var out []string
	for _, kind := range kinds {
		state := "none yet"
		if t, ok := s.mgr.Cached(a.tickets[kind]); ok {
			state = "expired"
			if t.Valid(now) {
				state = t.ExpiresIn(now).Round(time.Second).String() + " left"
			}
		}
		out = append(out, kind+": "+state)
	}
	return out
}
