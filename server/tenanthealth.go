package server

import "slices"

// maxFailingShown caps the failing tenants named in a status answer: a
// provider may have thousands of tenants; the count says how many fail.
const maxFailingShown = 10

// tenantHealth sums up, for a suite or component app, the tenants this
// instance serves: how many, and which of them cannot get a token (their
// last refresh failed: an uninstalled corp, a lost refresh token).
type tenantHealth struct {
	Count        int      `json:"count"`
	FailingCount int      `json:"failing_count"`
	Failing      []string `json:"failing,omitempty"` // sorted, at most maxFailingShown
}

// tenantHealth judges a's tenants, without any upstream or cache call; nil
// for an app without tenants.
func (s *Server) tenantHealth(a *app) *tenantHealth {
	if a.tenants == nil {
		return nil
	}
	a.tenantMu.Lock()
	regs := make(map[string]string, len(a.tenantSet))
	for id, reg := range a.tenantSet {
		regs[id] = reg.key
	}
	a.tenantMu.Unlock()
	h := &tenantHealth{Count: len(regs)}
	for id, key := range regs {
		if s.mgr.LastError(key) != nil {
			h.Failing = append(h.Failing, id)
		}
	}
	h.FailingCount = len(h.Failing)
	slices.Sort(h.Failing)
	h.Failing = h.Failing[:min(len(h.Failing), maxFailingShown)]
	return h
}
