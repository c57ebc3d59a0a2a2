package farm

import (
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// partial is what some nodes of a farm measured: all of them when they
// run in the farm's process, one when each node is a process of its own
// (it then travels as JSON).
type partial struct {
	Latency      histogram         `json:"latency"`
	During       histogram         `json:"during"`
	ColdStart    time.Duration     `json:"cold_start"`
	Checks       int64             `json:"checks"`
	Refused      int64             `json:"refused"`
	SpuriousSent int64             `json:"spurious_sent"`
	Routed       int64             `json:"routed"`
	FailedCold   int64             `json:"failed_cold"`
	Failed       map[string]int64  `json:"failed"`
	Examples     map[string]string `json:"examples"`
	Events       map[string]int64  `json:"events"`
	LockWaitMax  time.Duration     `json:"lock_wait_max"`
	StoreOps     []int64           `json:"store_ops"` // per second of the run
	StoreOpKinds map[string]int64  `json:"store_op_kinds"`
	Gens         map[int][]int64   `json:"gens"` // per node, per timeline column
	Failures     []Mark            `json:"failures"`
}

func newPartial() *partial {
	return &partial{Failed: make(map[string]int64), Examples: make(map[string]string),
		Events: make(map[string]int64), Gens: make(map[int][]int64), StoreOpKinds: make(map[string]int64)}
}

// collect gathers what this process's nodes and workers measured.
func (r *run) collect(stats [][]workerStats) *partial {
	p := newPartial()
	for _, ws := range stats {
		for i := range ws {
			w := &ws[i]
			p.merge(&partial{Latency: w.latency, During: w.during, ColdStart: w.coldStart, Checks: w.checks,
				Refused: w.refused, SpuriousSent: w.spuriousSent, Routed: w.routed, FailedCold: w.failedCold, Failed: w.failed, Examples: w.examples})
		}
	}
	for k := range r.events {
		if n := r.events[k].Load(); n > 0 {
			p.Events[core.EventKind(k).String()] = n
		}
	}
	p.LockWaitMax = time.Duration(r.lockWaitMax.Load())
	p.StoreOps = make([]int64, len(r.ops.buckets))
	for i := range r.ops.buckets {
		p.StoreOps[i] = r.ops.buckets[i].Load()
	}
	p.StoreOpKinds = r.ops.byKind()
	for _, n := range r.nodes {
		p.Gens[n.id] = r.timeline.row(n.id)
	}
	p.Failures = r.timeline.failureMarks()
	return p
}

// merge adds o into p.
func (p *partial) merge(o *partial) {
	p.Latency.merge(&o.Latency)
	p.During.merge(&o.During)
	p.ColdStart = max(p.ColdStart, o.ColdStart)
	p.Checks += o.Checks
	p.Refused += o.Refused
	p.SpuriousSent += o.SpuriousSent
	p.Routed += o.Routed
	p.FailedCold += o.FailedCold
	for k, v := range o.Failed {
		p.Failed[k] += v
	}
	for k, v := range o.Examples {
		if old, ok := p.Examples[k]; !ok || v < old {
			p.Examples[k] = v
		}
	}
	for k, v := range o.Events {
		p.Events[k] += v
	}
	p.LockWaitMax = max(p.LockWaitMax, o.LockWaitMax)
	if len(o.StoreOps) > len(p.StoreOps) {
		p.StoreOps = append(p.StoreOps, make([]int64, len(o.StoreOps)-len(p.StoreOps))...)
	}
	for i, v := range o.StoreOps {
		p.StoreOps[i] += v
	}
	for k, v := range o.StoreOpKinds {
		p.StoreOpKinds[k] += v
	}
	for n, row := range o.Gens {
		p.Gens[n] = row
	}
	p.Failures = append(p.Failures, o.Failures...)
}

func (p *partial) storeOpsTotal() (total, peak int64) {
	for _, v := range p.StoreOps {
		total += v
		peak = max(peak, v)
	}
	return total, peak
}
