package server

import (
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricNames lists every metric a Server can export, from its
// collectors' descriptions (a histogram's series add _bucket, _sum and
// _count): /metrics shows a labelled metric only once something was
// counted, so a document that names metrics is checked against this.
func MetricNames() map[string]bool {
	rec := &describer{names: map[string]bool{}}
	newMetrics(rec)
	rec.MustRegister(newAppCollector(&Server{}))
	return rec.names
}

// WithUpstreamQuotaEvery sets how often upstream's quota is read (default
// DefaultUpstreamQuotaEvery): tests shorten it.
func WithUpstreamQuotaEvery(d time.Duration) Option {
	return func(o *options) { o.quotaEvery = d }
}

// describer is a Registerer that only keeps the names described.
type describer struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = true
		}
	}
	return nil
}

func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		d.Register(c)
	}
}

func (d *describer) Unregister(prometheus.Collector) bool { return false }
