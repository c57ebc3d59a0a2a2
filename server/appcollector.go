package server

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// appCollector reports each app's health, its token's expiry and its
// tenants at scrape time, so an operator can alert on "refresh failing",
// on "expires within 10 minutes" and on tenants that cannot get a token.
type appCollector struct {
	s                                 *Server
	healthy, expiry, tenants, failing *prometheus.Desc
	renew, callsToday, dailyLimit     *prometheus.Desc
	upstreamQuota                     *prometheus.Desc
}

// collectTimeout bounds the store reads of one scrape (the day's calls).
const collectTimeout = 2 * time.Second

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
		renew: prometheus.NewDesc("wxtoken_token_renew_timestamp_seconds",
			"For a token upstream renews only near its end (WeCom, stable, service-provider tokens): the earliest time upstream hands out a new one, Unix seconds. Such a token runs down to seconds by design; absent for the others.", []string{"app"}, nil),
		callsToday: prometheus.NewDesc("wxtoken_upstream_calls_today",
			"The fleet's upstream calls today (the Beijing day upstream's quotas count in), by app and credential (access_token, jsapi, agent_config), from the shared store's ledger; absent when the store does not answer.", []string{"app", "credential"}, nil),
		upstreamQuota: prometheus.NewDesc("wxtoken_upstream_quota",
			"Upstream's own count of the app's /cgi-bin/token calls today (every caller of the account, not only this fleet), from quota/get, read by one instance every 5 minutes: value is daily_limit, used or remain. Absent for WeCom apps and until first read.", []string{"app", "cgi_path", "value"}, nil),
		dailyLimit: prometheus.NewDesc("wxtoken_upstream_daily_limit",
			"The configured daily_limit of the app's access_token calls (absent when none is configured).", []string{"app"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *appCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.healthy
	ch <- c.expiry
	ch <- c.tenants
	ch <- c.failing
	ch <- c.renew
	ch <- c.callsToday
	ch <- c.dailyLimit
	ch <- c.upstreamQuota
}

// Collect implements prometheus.Collector.
func (c *appCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	for _, a := range c.s.order {
		if tok, ok := c.s.mgr.Cached(a.tokenKey); ok && !tok.RenewAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.renew, prometheus.GaugeValue, float64(tok.RenewAt.UnixMilli())/1000, a.ID)
		}
		if a.DailyLimit > 0 {
			ch <- prometheus.MustNewConstMetric(c.dailyLimit, prometheus.GaugeValue, float64(a.DailyLimit), a.ID)
		}
		c.collectCalls(ctx, ch, a)
		if q, ok := c.s.upstreamQuota(ctx, a); ok {
			for _, v := range []struct {
				name string
				n    int64
			}{{"daily_limit", q.DailyLimit}, {"used", q.Used}, {"remain", q.Remain}} {
				ch <- prometheus.MustNewConstMetric(c.upstreamQuota, prometheus.GaugeValue, float64(v.n), a.ID, quotaPath, v.name)
			}
		}
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

// collectCalls reports the day's upstream calls of a's token and tickets
// from the store's ledger, or nothing for one the store does not answer
// for: the fleet's count or none, never this instance's part of it.
func (c *appCollector) collectCalls(ctx context.Context, ch chan<- prometheus.Metric, a *app) {
	keys := map[string]string{"access_token": a.tokenKey}
	maps.Copy(keys, a.tickets)
	for _, cred := range slices.Sorted(maps.Keys(keys)) {
		if ctx.Err() != nil {
			return
		}
		if n, err := c.s.mgr.CallsToday(ctx, keys[cred]); err == nil {
			ch <- prometheus.MustNewConstMetric(c.callsToday, prometheus.GaugeValue, float64(n), a.ID, cred)
		}
	}
}
