package server

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/beijing"
	"github.com/wxtoken/wxtoken/wechat"
)

// metrics are the server's Prometheus collectors. Labels name apps by
// their configured id, never by a secret.
type metrics struct {
	served    *prometheus.CounterVec
	upstream  *prometheus.CounterVec
	refresh   *prometheus.HistogramVec
	lockWait  *prometheus.HistogramVec
	cacheErrs *prometheus.CounterVec
	degraded  *prometheus.CounterVec
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	events    *prometheus.CounterVec
	callbacks *prometheus.CounterVec
	// republished counts what the state store had lost and this instance
	// wrote back from memory.
	republished *prometheus.CounterVec
	// clients counts requests by the configured client that made them;
	// clientCounts keeps its children.
	clients      *prometheus.CounterVec
	clientCounts *counterCache
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		served: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wxtoken_tokens_served_total",
			Help: "Tokens, tickets and signatures served, by app and credential (access_token, jsapi, agent_config, signature)."}, []string{"app", "credential"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wxtoken_upstream_fetches_total",
			Help: "Upstream fetches (retries included), by app, credential and outcome: errcode 0 for success, upstream's errcode, http_STATUS for an HTTP error, timeout, certificate when upstream's TLS certificate did not verify, or transport for another network failure."}, []string{"app", "credential", "errcode"}),
		refresh: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wxtoken_refresh_duration_seconds",
			Help: "Time of upstream fetches.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}, []string{"app", "credential"}),
		lockWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wxtoken_lock_wait_seconds",
			Help: "Time refreshes waited for another node's lock.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}, []string{"app"}),
		cacheErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wxtoken_cache_errors_total",
			Help: "Failed shared-cache operations."}, []string{"app"}),
		degraded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wxtoken_degraded_refreshes_total",
			Help: "Refreshes made without the fleet lock because the store was unreachable."}, []string{"app"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wxtoken_http_requests_total",
			Help: "HTTP requests by handler (the route's path pattern), method and status code."}, []string{"handler", "method", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wxtoken_http_request_duration_seconds",
			Help: "Time to answer HTTP requests, by handler and method.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"handler", "method"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wxtoken_events_total",
			Help: "Lifecycle events by app and event: fetch, adopt, lock_wait, cache_error, corrupt, degraded, stale_served, fenced, spurious (a reported token upstream still accepts), verified (a reported token upstream confirmed dead), budget."}, []string{"app", "event"}),
	}
	m.callbacks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wxtoken_callbacks_total",
		Help: "Encrypted callbacks received, by app, event (the InfoType, verify_url, or unknown when refused before it was read) and outcome: ok, ignored, replay (handled before), in_flight, stale, upstream_error, store_error for messages that verified; signature, timestamp, too_large, malformed, undecryptable (one outcome for everything after the signature), unknown_app, rate_limited for refused ones."}, []string{"app", "event", "outcome"})
	m.republished = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wxtoken_republished_total",
		Help: "What the state store had lost (a flush, a restart without persistence, an eviction, a failover) and this instance wrote back from memory, by app and what: tenant, refresh_token, pushed_ticket."}, []string{"app", "what"})
	m.clients = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wxtoken_client_requests_total",
		Help: "HTTP requests by client (a configured client's name; none for requests without a key: probes, callbacks, refused keys) and status code."}, []string{"client", "code"})
	m.clientCounts = newCounterCache(m.clients, "client")
	b := ReadBuildInfo()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wxtoken_build_info",
		Help: "Always 1: what this binary was built from (version, VCS revision, Go version)."}, []string{"version", "revision", "goversion"})
	build.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	reg.MustRegister(m.served, m.upstream, m.refresh, m.lockWait, m.cacheErrs, m.degraded, m.requests, m.durations, m.events, m.callbacks, m.republished,
		m.clients, build, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// countClient counts one request of the client called name ("" for none).
func (m *metrics) countClient(name string, status int) {
	if name == "" {
		name = "none"
	}
	m.clientCounts.inc(name, statusCode(status))
}

// forgetClient drops the series of a client a reload removed.
func (m *metrics) forgetClient(name string) { m.clientCounts.forget(name) }

// zeroEvents are the events alert rules watch: their series exist at 0 for
// every app from the start, so that increase() sees the first one.
var zeroEvents = []core.EventKind{core.EventSpurious, core.EventVerified, core.EventUnverified, core.EventUnverifiedHeld, core.EventDegraded, core.EventCacheError, core.EventBudget}

// startApp creates the zero series of app id.
func (m *metrics) startApp(id, kind string) {
	for _, k := range zeroEvents {
		m.events.WithLabelValues(id, k.String())
	}
	if hasTenants(kind) {
		for _, what := range []string{"tenant", "refresh_token", "pushed_ticket"} {
			m.republished.WithLabelValues(id, what)
		}
	}
}

// stats keeps what the status page shows per credential identity.
type stats struct {
	mu sync.Mutex
	by map[string]*credStats
}

type credStats struct {
	lastRefresh time.Time
	lastError   string
	lastErrorAt time.Time
	day         string
	callsToday  int
}

func newStats() *stats { return &stats{by: map[string]*credStats{}} }

func (st *stats) get(id string) credStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	if c := st.by[id]; c != nil {
		return *c
	}
	return credStats{}
}

func (st *stats) fetched(id string, err error, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.by[id]
	if c == nil {
		c = &credStats{}
		st.by[id] = c
	}
	if day := beijing.Day(now); c.day != day {
		c.day, c.callsToday = day, 0
	}
	c.callsToday++
	if err != nil {
		c.lastError, c.lastErrorAt = err.Error(), now
	} else {
		c.lastRefresh = now
	}
}

// observe turns Manager events into metrics and status.
func (s *Server) observe(e core.Event) {
	appID, cred := s.appOf(e.ID)
	s.metrics.events.WithLabelValues(appID, e.Kind.String()).Inc()
	switch e.Kind {
	case core.EventFetch:
		s.metrics.upstream.WithLabelValues(appID, cred, outcome(e.Err)).Inc()
		s.metrics.refresh.WithLabelValues(appID, cred).Observe(e.Duration.Seconds())
		if cred != "tenant" { // the status page shows apps; tenants are many
			s.stats.fetched(e.ID, e.Err, time.Now())
		}
	case core.EventLockWait:
		s.metrics.lockWait.WithLabelValues(appID).Observe(e.Duration.Seconds())
	case core.EventCacheError:
		s.metrics.cacheErrs.WithLabelValues(appID).Inc()
	case core.EventDegraded:
		s.metrics.degraded.WithLabelValues(appID).Inc()
	}
}

// outcome labels an upstream fetch: "0", upstream's errcode, http_STATUS,
// timeout, certificate or transport, so that an alert can tell a refusal
// from an outage, and a missing CA from either.
func outcome(err error) string {
	var he *wechat.HTTPError
	switch {
	case err == nil:
		return "0"
	case wechat.Code(err) != 0:
		return strconv.Itoa(wechat.Code(err))
	case errors.As(err, &he):
		return "http_" + strconv.Itoa(he.Status)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timeout"
	case isCertificate(err):
		return "certificate"
	}
	return "transport"
}

// isCertificate reports an upstream TLS certificate that did not verify.
func isCertificate(err error) bool {
	var te *wechat.TransportError
	return errors.As(err, &te) && te.Certificate
}

// isTimeout reports a network timeout anywhere in err's chain.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// appOf maps a credential identity to the app it belongs to and the kind
// of credential ("access_token", "jsapi", "agent_config").
func (s *Server) appOf(id string) (string, string) {
	s.credsMu.RLock()
	c, ok := s.creds[id]
	s.credsMu.RUnlock()
	if ok {
		return c.app, c.kind
	}
	if _, parent, dep := strings.Cut(id, "@"); dep {
		s.credsMu.RLock()
		c, ok = s.creds[parent]
		s.credsMu.RUnlock()
		if a := s.apps[c.app]; ok && a != nil && hasTenants(a.Kind) {
			return c.app, "tenant"
		}
	}
	return "unknown", strings.SplitN(id, ":", 2)[0]
}

// forgetApp drops every series of app id, for an app a reload removed.
func (m *metrics) forgetApp(id string) {
	l := prometheus.Labels{"app": id}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.served, m.upstream, m.refresh, m.lockWait, m.cacheErrs, m.degraded, m.events, m.callbacks, m.republished} {
		v.DeletePartialMatch(l)
	}
}
