package core

import "time"

// want says which token a refresh is after; any token in the shared cache
// that satisfies it is adopted instead of fetching a new one.
type want struct {
	fresh  bool      // ordinary refresh: only a fresh token will do
	reject string    // passive refresh: never this value (a business API refused it)
	after  time.Time // forced refresh: only a token issued after this
}

func (w want) accepts(s *snapshot, now time.Time) bool {
	switch {
	case s == nil || !s.isUsable(now):
		return false
	case w.fresh && !s.isFresh(now):
		return false
	case w.reject != "" && s.tok.Value == w.reject:
		return false
	case !w.after.IsZero() && !s.tok.IssuedAt.After(w.after):
		return false
	}
	return true
}

// servesMeanwhile reports whether an ordinary refresh (not a report of a
// rejected token, not a forced refresh) can leave the node serving the
// token of s while the fleet gets the next one: s is still usable.
func (w want) servesMeanwhile(s *snapshot, now time.Time) bool {
	return w.ordinary() && s.isUsable(now)
}

// ordinary reports whether w is a plain refresh: not a report of a
// rejected token, not a forced refresh.
func (w want) ordinary() bool { return w.reject == "" && w.after.IsZero() }

// flightKey groups the callers that can share one refresh.
func (w want) flightKey(id string) string {
	switch {
	case w.reject != "":
		return id + "\x00reject\x00" + w.reject
	case !w.after.IsZero():
		return id + "\x00force"
	}
	return id
}
