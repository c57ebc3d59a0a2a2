package farm

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/server"
)

// Report is what a farm run measured.
type Report struct {
	Nodes     int           `json:"nodes"`
	Workers   int           `json:"workers"`
	Duration  time.Duration `json:"duration_ns"`
	Cache     string        `json:"cache"` // without its password
	Upstream  string        `json:"upstream"`
	Lifetime  time.Duration `json:"lifetime_ns"`
	Overlap   time.Duration `json:"overlap_ns"`
	Faults    []string      `json:"faults"`
	Settings  core.Settings `json:"settings"`
	StartedAt time.Time     `json:"started_at"`
	// Procs: each node ran as an OS process of its own (heap and
	// goroutines are then the farm process's).
	Procs bool `json:"procs"`

	Credentials []CredentialReport `json:"credentials"`

	BusinessCalls int64 `json:"business_calls"`
	// Refused counts business calls whose first answer refused the token
	// (40001, 42001): each was reported and sent once more with the token
	// the fleet handed back, as wechat.Transport does. Failed counts the
	// calls that failed even so, by errcode, "token_error" (Token itself
	// failed), "invalidate_error" or "check_error" (no answer).
	Refused int64            `json:"refused_then_retried"`
	Failed  map[string]int64 `json:"failed"`
	// FailedExample is the first error of each kind of failure, timed.
	FailedExample map[string]string `json:"failed_example,omitempty"`
	FailedTotal   int64             `json:"failed_total"`
	// FailedColdStart counts the failed calls (of FailedTotal) made by
	// nodes that had not yet had a token: the fleet's cold start.
	FailedColdStart int64 `json:"failed_cold_start"`

	// Latency of Token calls after each worker's first (which waits for
	// the run's first fetch: ColdStart), and of those made while an
	// upstream credential call was in flight.
	ColdStart            time.Duration `json:"cold_start_ns"`
	Latency              Latency       `json:"token_latency"`
	LatencyDuringRefresh Latency       `json:"token_latency_during_refresh"`

	Events       map[string]int64 `json:"events"` // the Managers' events, by name
	LockWaitMax  time.Duration    `json:"lock_wait_max_ns"`
	SpuriousSent int64            `json:"spurious_reports_sent"`
	// Routed counts the business calls of nodes out of the balancer's
	// rotation (their store did not answer), sent to the other nodes and
	// not made again there (see Config.NoBalancer).
	Routed          int64            `json:"routed_away"`
	Probes          int              `json:"verification_probes"`
	Killed          []int            `json:"killed_nodes"`
	KilledMidCall   int              `json:"killed_mid_upstream_call"`
	Paused          []int            `json:"paused_nodes,omitempty"` // frozen by PauseHolder, right after sending a credential call
	StoreOps        int64            `json:"store_ops"`
	StoreOpsPerCyc  float64          `json:"store_ops_per_refresh_cycle"`
	StoreOpsPeakSec int64            `json:"store_ops_peak_per_second"`
	StoreOpsByKind  map[string]int64 `json:"store_ops_by_kind"`

	HeapStart       uint64 `json:"heap_start_bytes"`
	HeapEnd         uint64 `json:"heap_end_bytes"`
	GoroutinesStart int    `json:"goroutines_start"`
	GoroutinesEnd   int    `json:"goroutines_end"`
}

// CredentialReport is one credential's upstream bill.
type CredentialReport struct {
	Kind     string `json:"kind"`
	Identity string `json:"identity"`
	// Calls the fleet made to the credential's endpoint, failed ones
	// included; Issued, with the built-in simulator, the new values it
	// handed out.
	Calls  int `json:"upstream_calls"`
	Issued int `json:"issued,omitempty"`
	// Ideal is one call per refresh cycle of the run; Allowed adds one for
	// rounding and one for each fault that must cost a call (a revocation,
	// a holder killed in the middle of its upstream call).
	Ideal   int      `json:"ideal"`
	Allowed int      `json:"allowed"`
	Extra   []string `json:"extra_explained,omitempty"`
}

// Billed is the count judged against Allowed: new values issued when the
// simulator can tell, calls otherwise.
func (c CredentialReport) Billed() int {
	if c.Issued > 0 {
		return c.Issued
	}
	return c.Calls
}

// OK reports whether the run kept both promises: no failed business call,
// and no credential asked more than allowed.
func (r *Report) OK() bool {
	if r.FailedTotal != 0 || r.BusinessCalls == 0 {
		return false
	}
	for _, c := range r.Credentials {
		if c.Billed() > c.Allowed {
			return false
		}
	}
	return true
}

// cycle is the time between two refreshes of a credential of kind k.
func cycle(k string, life time.Duration, s core.Settings) time.Duration {
	if k == KindWeCom { // renewed a second after expiry (expires_in is rounded down)
		return life + time.Second
	}
	return life - min(s.RefreshAhead, life/2)
}

func (r *run) report(p *partial) *Report {
	c := r.cfg
	rep := &Report{Nodes: c.Nodes, Workers: c.Workers, Duration: c.Duration, Cache: server.RedactURL(c.Cache),
		Upstream: r.upstreamURL, Lifetime: c.Lifetime, Overlap: c.Overlap, Settings: c.Settings,
		StartedAt: r.start, Failed: p.Failed, FailedExample: p.Examples, Events: p.Events,
		BusinessCalls: p.Checks, Refused: p.Refused, SpuriousSent: p.SpuriousSent, Routed: p.Routed, FailedColdStart: p.FailedCold, ColdStart: p.ColdStart,
		Latency: p.Latency.summary(), LatencyDuringRefresh: p.During.summary(), LockWaitMax: p.LockWaitMax,
		Procs: c.Procs}
	if r.sim != nil {
		rep.Upstream = "wxsim (in process)"
	}
	for _, v := range p.Failed {
		rep.FailedTotal += v
	}
	revokes, fast := 0, time.Duration(0)
	for _, f := range c.Faults {
		rep.Faults = append(rep.Faults, f.String())
		switch f.Kind {
		case Revoke:
			revokes++
		case Skew:
			fast = max(fast, f.Skew)
		}
	}
	calls, probes := r.upstream.snapshot()
	rep.Probes = probes
	r.killMu.Lock()
	rep.Killed, rep.KilledMidCall = append([]int(nil), r.killed...), r.killMidCall
	rep.Paused = append([]int(nil), r.paused...)
	r.killMu.Unlock()

	cycles := 0
	for _, cr := range r.creds {
		cyc := cycle(cr.Kind, c.Lifetime, c.Settings)
		ideal := int(c.Duration/cyc) + 1
		out := CredentialReport{Kind: cr.Kind, Identity: cr.Identity, Calls: calls[cr.Path], Ideal: ideal, Allowed: ideal + 1}
		if r.sim != nil {
			out.Issued = len(r.sim.Issues(cr.Identity))
		}
		if fast > 0 && cr.Kind == KindOfficial && fast < cyc {
			more := int(c.Duration/(cyc-fast)) + 1 - ideal
			out.Allowed += more
			out.Extra = append(out.Extra, fmt.Sprintf("%d: a node whose clock is %v fast finds the token stale that much sooner, and refreshes it for the fleet", more, fast))
		}
		if revokes > 0 {
			out.Allowed += revokes
			out.Extra = append(out.Extra, fmt.Sprintf("%d revocation(s): the revoked token must be replaced", revokes))
		}
		if rep.KilledMidCall > 0 {
			out.Allowed += rep.KilledMidCall
			out.Extra = append(out.Extra, fmt.Sprintf("%d holder(s) killed during the upstream call: the value upstream issued was never published", rep.KilledMidCall))
		}
		rep.Credentials = append(rep.Credentials, out)
		cycles += ideal
	}
	rep.StoreOps, rep.StoreOpsPeakSec = p.storeOpsTotal()
	rep.StoreOpsByKind = p.StoreOpKinds
	if cycles > 0 {
		rep.StoreOpsPerCyc = float64(rep.StoreOps) / float64(cycles)
	}
	return rep
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for a person to read.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	p("farm\t%d nodes x %d workers, %v, lifetime %v (overlap %v)", r.Nodes, r.Workers, r.Duration, r.Lifetime, r.Overlap)
	p("store\t%s", r.Cache)
	p("upstream\t%s", r.Upstream)
	faults := "none"
	if len(r.Faults) > 0 {
		faults = strings.Join(r.Faults, "; ")
	}
	p("faults\t%s", faults)
	p("")
	p("credential\tupstream calls\tissued\tideal\tallowed\tverdict")
	for _, c := range r.Credentials {
		verdict := "ok"
		if c.Billed() > c.Allowed {
			verdict = "TOO MANY"
		}
		issued := "-"
		if c.Issued > 0 {
			issued = fmt.Sprint(c.Issued)
		}
		p("%s (%s)\t%d\t%s\t%d\t%d\t%s", c.Identity, c.Kind, c.Calls, issued, c.Ideal, c.Allowed, verdict)
		for _, e := range c.Extra {
			p("\t  + %s", e)
		}
	}
	p("")
	failed := "0"
	if r.FailedTotal > 0 {
		var parts []string
		for _, k := range sortedKeys(r.Failed) {
			parts = append(parts, fmt.Sprintf("%s: %d", k, r.Failed[k]))
		}
		failed = fmt.Sprintf("%d (%s)", r.FailedTotal, strings.Join(parts, ", "))
		if r.FailedColdStart > 0 {
			failed += fmt.Sprintf(", %d of them before their node's first token", r.FailedColdStart)
		}
	}
	p("business calls\t%d, failed %s (first answer refused, repaired by one report and retry: %d)", r.BusinessCalls, failed, r.Refused)
	for _, k := range sortedKeys(r.FailedExample) {
		p("  first %s\t%s", k, r.FailedExample[k])
	}
	if r.Routed > 0 {
		p("routed away\t%d calls of nodes out of rotation (their store did not answer), sent to the others", r.Routed)
	}
	p("first token (cold start)\t%v", r.ColdStart)
	p("Token latency\tp50 %v  p99 %v  max %v  (%d calls)", r.Latency.P50, r.Latency.P99, r.Latency.Max, r.Latency.Count)
	p("  during a refresh\tp50 %v  p99 %v  max %v  (%d calls)", r.LatencyDuringRefresh.P50, r.LatencyDuringRefresh.P99, r.LatencyDuringRefresh.Max, r.LatencyDuringRefresh.Count)
	var ev []string
	for _, k := range sortedKeys(r.Events) {
		ev = append(ev, fmt.Sprintf("%s %d", k, r.Events[k]))
	}
	p("manager events\t%s", strings.Join(ev, ", "))
	p("lock wait max\t%v", r.LockWaitMax)
	p("spurious reports sent\t%d (verification probes %d)", r.SpuriousSent, r.Probes)
	if len(r.Killed) > 0 {
		p("killed nodes\t%v (%d mid upstream call)", r.Killed, r.KilledMidCall)
	}
	if len(r.Paused) > 0 {
		p("paused nodes\t%v (each frozen right after sending a credential call)", r.Paused)
	}
	p("store operations\t%d, %.0f per refresh cycle, peak %d/s", r.StoreOps, r.StoreOpsPerCyc, r.StoreOpsPeakSec)
	var kinds []string
	for _, k := range opNames {
		if n, ok := r.StoreOpsByKind[k]; ok {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
	}
	if len(kinds) > 0 {
		p("  by kind\t%s", strings.Join(kinds, ", "))
	}
	p("heap\t%.1f MiB -> %.1f MiB", float64(r.HeapStart)/(1<<20), float64(r.HeapEnd)/(1<<20))
	p("goroutines\t%d -> %d", r.GoroutinesStart, r.GoroutinesEnd)
	verdict := "PASS: zero failed business calls, upstream calls within the allowance"
	if !r.OK() {
		verdict = "FAIL"
	}
	p("verdict\t%s", verdict)
	return tw.Flush()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
