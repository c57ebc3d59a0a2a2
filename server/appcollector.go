package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// appCollector reports each app's health, its token's expiry and its
// tenants at scrape time, so an operator can alert on "refresh failing",
// on "expires within 10 minutes" and on tenants that cannot get a token.
type appCollector struct {
	s                                 *Server
	healthy, expiry, tenants, failing *prometheus.Desc
}

func newAppCollector(s *Server) *appCollector {
	return &appCollector{
		s: s,
		healthy: prometheus.NewDesc("wxtoken_app_healthy",
			"1 when the app holds a usable token and its last refresh did not fail, else 0.", []string{"app"}, nil),
		expiry: prometheus.NewDesc("wxtoken_token_expiry_timestamp_seconds",
			"When the app's access_token expires, Unix seconds (absent while it has none).", []string{"app"}, nil),
		tenants: prometheus.NewDesc("wxtoken_tenants",
			"Tenants (authorized corps, authorizers) of a suite or component app served by this instance.", []string{"app"}, nil),
		failing: prometheus.NewDesc("wxtoken_tenants_failing",
			"Tenants of a suite or component app whose last refresh failed on this instance.", []string{"app"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *appCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.healthy
	ch <- c.expiry
	ch <- c.tenants
	ch <- c.failing
}

// Collect implements prometheus.Collector.
func (c *appCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, a := range c.s.order {
		h := c.s.health(a, now)
		v := 0.0
		if h.Healthy {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, v, a.ID)
		if h.ExpiresAt != nil {
			ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, float64(h.ExpiresAt.UnixMilli())/1000, a.ID)
		}
		if h.Tenants != nil {
			ch <- prometheus.MustNewConstMetric(c.tenants, prometheus.GaugeValue, float64(h.Tenants.Count), a.ID)
			ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, float64(h.Tenants.FailingCount), a.ID)
		}
	}
}
