package wxsim

import (
	"net/http"
)

// The simulator's own routes, for tests of a fleet that runs the
// simulator as a process of its own (`wxtoken sim`), where its Go methods
// cannot be called: they are not upstream's and upstream has nothing at
// these paths.
const (
	// AdminRevokePath: POST with the form or query field access_token
	// revokes that token (as Revoke does); 404 for a token never issued.
	AdminRevokePath = "/wxsim/revoke"
	// AdminStatsPath: GET answers the counters (Stats) as JSON:
	// {"calls": {path: n}, "token_calls", "issued", "checks",
	// "check_errors": {errcode: n}, "probes", "probe_errors"}.
	AdminStatsPath = "/wxsim/stats"
	// AdminResetPath: POST zeroes the counters (as ResetStats does).
	AdminResetPath = "/wxsim/reset"
)

// statsJSON is Stats as AdminStatsPath answers it.
type statsJSON struct {
	Calls       map[string]int `json:"calls"`
	TokenCalls  int            `json:"token_calls"`
	Issued      int            `json:"issued"`
	Checks      int            `json:"checks"`
	CheckErrors map[int]int    `json:"check_errors"`
	Probes      int            `json:"probes"`
	ProbeErrors map[int]int    `json:"probe_errors"`
}

func (s *Sim) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+AdminRevokePath, func(w http.ResponseWriter, r *http.Request) {
		token := r.FormValue("access_token")
		if token == "" || !s.Revoke(token) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"errcode":40001,"errmsg":"no such token issued"}` + "\n"))
			return
		}
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "revoked"})
	})
	mux.HandleFunc("GET "+AdminStatsPath, func(w http.ResponseWriter, r *http.Request) {
		st := s.Stats()
		writeJSON(w, statsJSON{Calls: st.Calls, TokenCalls: st.TokenCalls(), Issued: st.Issued, Checks: st.Checks,
			CheckErrors: st.CheckErrors, Probes: st.Probes, ProbeErrors: st.ProbeErrors})
	})
	mux.HandleFunc("POST "+AdminResetPath, func(w http.ResponseWriter, r *http.Request) {
		s.ResetStats()
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
	})
}
