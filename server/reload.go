package server

import (
	"errors"
	"fmt"
	"slices"
)

// ErrNeedsRestart is returned by Reload for a config that changes what a
// running server cannot change: where it listens, its TLS files, its
// stores, its key prefix or its log format.
var ErrNeedsRestart = errors.New("needs a restart")

// Reload returns a Server for cfg that takes over s's stores, metrics,
// status and callback memory, so that a process can serve a changed
// config (clients, apps added and removed, settings, upstream) without a
// restart. cfg is checked as New checks it; a config New would refuse, or
// one that changes a field only a restart can change (ErrNeedsRestart,
// naming the field), is refused and s is left as it was.
//
// On success the caller routes new requests to the returned Server,
// starts its Run, and then, once the requests s was answering are done,
// stops s's Run and closes s: s no longer closes the stores, the new
// Server does. Tokens, tickets and tenants are in the shared store, so
// the new Server reads them from there: a reload fetches nothing from
// upstream that the fleet holds. The metrics of removed apps are dropped.
func (s *Server) Reload(cfg Config, opts ...Option) (*Server, error) {
	o := newOptions(append([]Option{WithLogger(s.log)}, opts...))
	o.registry = s.registry
	cfg, err := checkedConfig(cfg)
	if err != nil {
		return nil, err
	}
	if field := restartField(s.cfg, cfg); field != "" {
		return nil, fmt.Errorf("%s: %w", field, ErrNeedsRestart)
	}
	n, err := assemble(cfg, o, s.stores, s.shared)
	if err != nil {
		return nil, err
	}
	s.registry.Unregister(s.collector)
	s.registry.MustRegister(n.collector)
	n.closer, s.closer = s.closer, nopCloser{}
	for _, id := range s.AppIDs() {
		if n.apps[id] == nil {
			s.metrics.forgetApp(id)
		}
	}
	for _, name := range s.clients.names {
		if !slices.Contains(n.clients.names, name) {
			s.metrics.forgetClient(name)
		}
	}
	return n, nil
}

// restartField names the first field in which next differs from cur that
// a running server cannot change, or "".
func restartField(cur, next Config) string {
	switch {
	case cur.Listen != next.Listen:
		return "listen"
	case cur.TLS != next.TLS:
		return "tls"
	case cur.Cache != next.Cache:
		return "cache"
	case cur.State != next.State:
		return "state"
	case cur.KeyPrefix != next.KeyPrefix:
		return "key_prefix"
	case cur.Log.Format != next.Log.Format:
		return "log.format"
	}
	return ""
}

// AppIDs returns the ids of the configured apps, in config order.
func (s *Server) AppIDs() []string {
	ids := make([]string, 0, len(s.order))
	for _, a := range s.order {
		ids = append(ids, a.ID)
	}
	return slices.Clip(ids)
}
