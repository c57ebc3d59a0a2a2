package wxsim

import (
	"maps"
	"time"
)

// Stats counts what the simulator has seen.
type Stats struct {
	// Calls counts requests to each credential endpoint, by path,
	// including failed and faulted ones.
	Calls map[string]int
	// Issued counts new tokens and tickets handed out.
	Issued int
	// Checks counts business API calls; CheckErrors counts those refused,
	// by errcode (40001, 42001, 41001).
	Checks      int
	CheckErrors map[int]int
	// Probes counts calls to ProbePath (token verification); ProbeErrors
	// counts those refused, by errcode.
	Probes      int
	ProbeErrors map[int]int
}

func newStats() Stats {
	return Stats{Calls: map[string]int{}, CheckErrors: map[int]int{}, ProbeErrors: map[int]int{}}
}

// TokenCalls is the total of Calls.
func (st Stats) TokenCalls() int {
	n := 0
	for _, c := range st.Calls {
		n += c
	}
	return n
}

// FailedChecks is the total of CheckErrors.
func (st Stats) FailedChecks() int {
	n := 0
	for _, c := range st.CheckErrors {
		n += c
	}
	return n
}

// Stats returns a copy of the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Calls = maps.Clone(s.stats.Calls)
	out.CheckErrors = maps.Clone(s.stats.CheckErrors)
	out.ProbeErrors = maps.Clone(s.stats.ProbeErrors)
	return out
}

// Issues returns when each value of a credential was issued, oldest
// first. id is the credential's identity as the wechat package names it:
// "token:wx123", "stable:wx123", "wecom:ww1:1000002", "jsapi@token:wx123".
func (s *Sim) Issues(id string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.issues[id]...)
}

// Current returns the newest value issued for a credential, or "".
func (s *Sim) Current(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current[id]
}

// ResetStats zeroes the counters (issued tokens stay valid).
func (s *Sim) ResetStats() {
	s.mu.Lock()
	s.stats = newStats()
	s.mu.Unlock()
}
