package server

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// routeMetrics counts and times one route's requests into
// wxtoken_http_requests_total{handler,method,code} and
// wxtoken_http_request_duration_seconds{handler,method}, with the labels
// promhttp's middleware gave them (method lower-cased, code as digits).
// The series' children are looked up once per method and status and then
// kept: the token route is answered in microseconds, and a label lookup
// with its allocations is a visible share of that.
type routeMetrics struct {
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	handler   string
	children  sync.Map // routeKey -> *routeChild
}

type routeKey struct {
	method string
	code   int
}

type routeChild struct {
	count prometheus.Counter
	time  prometheus.Observer
}

func (m *metrics) route(handler string) *routeMetrics {
	return &routeMetrics{requests: m.requests, durations: m.durations, handler: handler}
}

// observe counts one request of method answered code, taking d.
func (rm *routeMetrics) observe(method string, code int, d time.Duration) {
	k := routeKey{method, code}
	c, ok := rm.children.Load(k)
	if !ok {
		m := methodLabel(method)
		child := &routeChild{count: rm.requests.WithLabelValues(rm.handler, m, strconv.Itoa(code)),
			time: rm.durations.WithLabelValues(rm.handler, m)}
		if m == "unknown" || code < 100 || code > 599 {
			child.count.Inc() // not kept: no client can grow the map
			child.time.Observe(d.Seconds())
			return
		}
		c, _ = rm.children.LoadOrStore(k, child)
	}
	child := c.(*routeChild)
	child.count.Inc()
	child.time.Observe(d.Seconds())
}

// methodLabel is the method as promhttp labels it: the standard ones
// lower-cased, any other "unknown" (a client cannot mint label values).
func methodLabel(m string) string {
	switch l := strings.ToLower(m); l {
	case "get", "put", "head", "post", "delete", "connect", "options", "notify", "trace", "patch":
		if m == l || m == strings.ToUpper(m) {
			return l
		}
	}
	return "unknown"
}

// counterCache keeps the children of a counter with two labels, looked
// up once per pair of values, as routeMetrics does for routes
// (wxtoken_client_requests_total: the client, the status).
type counterCache struct {
	vec   *prometheus.CounterVec
	first string   // the first label's name
	kids  sync.Map // [2]string -> prometheus.Counter
}

func newCounterCache(vec *prometheus.CounterVec, first string) *counterCache {
	return &counterCache{vec: vec, first: first}
}

func (cc *counterCache) inc(a, b string) {
	k := [2]string{a, b}
	c, ok := cc.kids.Load(k)
	if !ok {
		c, _ = cc.kids.LoadOrStore(k, cc.vec.WithLabelValues(a, b))
	}
	c.(prometheus.Counter).Inc()
}

// forget drops the series whose first label is value.
func (cc *counterCache) forget(value string) {
	cc.kids.Range(func(k, _ any) bool {
		if k.([2]string)[0] == value {
			cc.kids.Delete(k)
		}
		return true
	})
	cc.vec.DeletePartialMatch(prometheus.Labels{cc.first: value})
}

// statusCode is code as a label value, without an allocation for the
// codes HTTP defines.
func statusCode(code int) string {
	if code >= 100 && code < 600 {
		return statusCodes[code-100]
	}
	return strconv.Itoa(code)
}

var statusCodes = func() (s [500]string) {
	for i := range s {
		s[i] = strconv.Itoa(100 + i)
	}
	return
}()
