package wxsim

import (
	"net/http"
	"strings"
	"time"
)

// Fault changes how credential endpoints answer, for the next Times calls
// (0: until ClearFaults). Several faults may be active; the first one
// matching a request applies.
type Fault struct {
	// Path limits the fault to one endpoint ("/cgi-bin/token"); "" means
	// every credential endpoint. The business check is never faulted.
	Path string
	// Times is how many calls the fault affects; 0 means all.
	Times int
	// Latency delays the answer (or the failure).
	Latency time.Duration
	// Errcode, when not 0, is answered instead of a credential.
	Errcode int
	// HTTPStatus, when not 0, is answered with a plain-text body.
	HTTPStatus int
	// Drop closes the connection without any answer.
	Drop bool
}

// InjectFault adds a fault.
func (s *Sim) InjectFault(f Fault) {
	s.mu.Lock()
	fc := f
	s.faults = append(s.faults, &fc)
	s.mu.Unlock()
}

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// take counts a call to path and returns the fault that applies, if any.
func (s *Sim) take(path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Calls[path]++
	for i, f := range s.faults {
		if f.Path != "" && f.Path != path {
			continue
		}
		out := *f
		if f.Times > 0 {
			if f.Times--; f.Times == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		return &out
	}
	return nil
}

// faulty wraps a credential endpoint with call counting and faults.
func (s *Sim) faulty(path string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := s.take(path)
		if f == nil {
			h(w, r)
			return
		}
		if f.Latency > 0 {
			select {
			case <-time.After(f.Latency):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case f.Drop:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		case f.HTTPStatus != 0:
			http.Error(w, strings.ToLower(http.StatusText(f.HTTPStatus)), f.HTTPStatus)
		case f.Errcode != 0:
			fail(w, f.Errcode)
		default:
			h(w, r)
		}
	})
}
