package farm

import (
	"sync"
	"sync/atomic"
	"time"
)

// maxFailureMarks bounds the failures kept for the timeline; all are
// counted in the report.
const maxFailureMarks = 10000

// timeline records, per node and per column of Step, the generation of the
// token the node served, and the failures, faults and upstream calls of the
// run: what the plot draws.
type timeline struct {
	start time.Time
	step  time.Duration
	cols  int
	gens  [][]atomic.Uint64 // [node][column]: generation + 1; 0 = nothing served

	mu       sync.Mutex
	failures []failure
	spans    []Span
}

// Span is a fault's time in the run.
type Span struct {
	Fault string        `json:"fault"`
	Node  int           `json:"node"` // -1: the whole fleet
	Start time.Duration `json:"start_ns"`
	End   time.Duration `json:"end_ns"`
}

func newTimeline(start time.Time, d, step time.Duration, nodes int) *timeline {
	cols := int(d/step) + 1
	t := &timeline{start: start, step: step, cols: cols, gens: make([][]atomic.Uint64, nodes)}
	for i := range t.gens {
		t.gens[i] = make([]atomic.Uint64, cols)
	}
	return t
}

func (t *timeline) col(at time.Time) int {
	c := int(at.Sub(t.start) / t.step)
	if c < 0 || c >= t.cols {
		return -1
	}
	return c
}

// note records that node served a token of generation gen at at; a column
// keeps the highest generation served in it.
func (t *timeline) note(node int, at time.Time, gen uint64) {
	c := t.col(at)
	if c < 0 {
		return
	}
	cell := &t.gens[node][c]
	for {
		old := cell.Load()
		if old >= gen+1 || cell.CompareAndSwap(old, gen+1) {
			return
		}
	}
}

func (t *timeline) fail(f failure) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.failures) < maxFailureMarks {
		t.failures = append(t.failures, f)
	}
}

func (t *timeline) span(fault string, node int, start, end time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.spans = append(t.spans, Span{Fault: fault, Node: node, Start: start.Sub(t.start), End: end.Sub(t.start)})
}

// row returns node's generations per column, -1 where it served nothing.
func (t *timeline) row(node int) []int64 {
	out := make([]int64, t.cols)
	for c := range out {
		out[c] = int64(t.gens[node][c].Load()) - 1
	}
	return out
}

func (t *timeline) failureMarks() []Mark {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Mark, len(t.failures))
	for i, f := range t.failures {
		out[i] = Mark{At: f.At.Sub(t.start), Node: f.Node, What: f.Code}
	}
	return out
}

// Timeline is the recorded run, for plotting: Gens[node][column] is the
// highest generation the node served in that column, -1 when it served
// nothing.
type Timeline struct {
	Step     time.Duration
	Gens     [][]int64
	Failures []Mark
	Calls    []Mark
	Spans    []Span
}

// Mark is a point in the run: a failed business call or an upstream call.
type Mark struct {
	At   time.Duration
	Node int
	What string
}

// export assembles the timeline of the run from the nodes' rows and marks
// and the farm's own record of upstream calls and faults. A node with no
// row (a process killed before it reported) shows as serving nothing.
func (t *timeline) export(p *partial, calls []callEvent, nodes int) Timeline {
	out := Timeline{Step: t.step, Gens: make([][]int64, nodes), Failures: p.Failures}
	for n := range out.Gens {
		if row, ok := p.Gens[n]; ok {
			out.Gens[n] = row
		} else {
			out.Gens[n] = make([]int64, t.cols)
			for c := range out.Gens[n] {
				out.Gens[n][c] = -1
			}
		}
	}
	for _, c := range calls {
		out.Calls = append(out.Calls, Mark{At: c.At.Sub(t.start), Node: c.Node, What: c.Path})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out.Spans = append(out.Spans, t.spans...)
	return out
}
