package wxsim

import (
	"net/http"
	"time"
)

// verify judges an access_token the way business APIs do, returning its
// owner or the errcode to answer. Callers hold s.mu.
func (s *Sim) verify(token string, now time.Time) (string, int) {
	if token == "" {
		return "", 41001
	}
	rec, ok := s.tokens[token]
	switch {
	case !ok:
		return "", 40001
	case !rec.retired.IsZero() && !now.Before(rec.retired):
		return "", 40001 // replaced by a newer token: "not latest"
	case !now.Before(rec.expires):
		return "", 42001
	}
	return rec.owner, 0
}

// businessCheck is GET BusinessPath?access_token=, standing for any
// business API: it answers the IP list for a good token and the errcode
// upstream would give for a bad one. Every answer is counted.
func (s *Sim) businessCheck(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	_, code := s.verify(r.URL.Query().Get("access_token"), s.now())
	s.stats.Checks++
	if code != 0 {
		s.stats.CheckErrors[code]++
	}
	s.mu.Unlock()
	answerCheck(w, code)
}

// probe is GET ProbePath?access_token=: the same judgement, counted apart
// as Probes and limited to DefaultProbeLimit a day per credential.
func (s *Sim) probe(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	s.mu.Lock()
	owner, code := s.verify(r.URL.Query().Get("access_token"), now)
	s.stats.Probes++
	if code == 0 && s.counter(s.probes, owner).bump(now) >= DefaultProbeLimit {
		code = 45009
	}
	if code != 0 {
		s.stats.ProbeErrors[code]++
	}
	s.mu.Unlock()
	answerCheck(w, code)
}

func answerCheck(w http.ResponseWriter, code int) {
	if code != 0 {
		fail(w, code)
		return
	}
	writeJSON(w, map[string]any{"ip_list": []string{"101.226.103.0/25", "101.226.62.0/26"}})
}

// Valid reports whether a business API would accept token now.
func (s *Sim) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, code := s.verify(token, s.now())
	return code == 0
}
