package farm

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/wxsim"
)

// schedule injects every fault at its time and undoes it after its span,
// until ctx ends.
func (r *run) schedule(ctx context.Context) {
	var wg sync.WaitGroup
	for _, f := range r.cfg.Faults {
		if f.Kind == Skew { // set on the node's clock from the start
			r.timeline.span(f.String(), f.Node, r.start, r.start.Add(r.cfg.Duration))
			continue
		}
		wg.Go(func() {
			if !sleepUntil(ctx, r.start.Add(f.At)) {
				return
			}
			r.inject(ctx, f)
		})
	}
	wg.Wait()
}

// sleepUntil waits for t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// end is when a fault with span d, started now, ends: d after now, or the
// end of the run for d == 0.
func (r *run) end(d time.Duration) time.Time {
	if d == 0 {
		return r.start.Add(r.cfg.Duration)
	}
	return time.Now().Add(d)
}

func (r *run) inject(ctx context.Context, f Fault) {
	now := time.Now()
	switch f.Kind {
	case KillHolder:
		r.killHolder(ctx, f)
	case PauseStore:
		if err := r.cfg.StoreControl.Pause(); err != nil {
			r.cfg.Logger.Error("farm: cannot pause the store", "err", err)
			return
		}
		sleepUntil(context.Background(), now.Add(f.For)) // resumed even when the run ends first
		if err := r.cfg.StoreControl.Resume(); err != nil {
			r.cfg.Logger.Error("farm: cannot resume the store", "err", err)
		}
		r.timeline.span(f.String(), -1, now, time.Now())
	case UpstreamLatency:
		r.sim.InjectFault(wxsim.Fault{Latency: f.Latency})
		end := r.end(f.For)
		sleepUntil(ctx, end)
		r.sim.ClearFaults()
		r.timeline.span(f.String(), -1, now, earlier(end, time.Now()))
	case UpstreamErrors:
		r.sim.InjectFault(wxsim.Fault{Errcode: -1, Times: f.Count})
		r.sim.InjectFault(wxsim.Fault{HTTPStatus: 500, Times: f.Count})
		r.sim.InjectFault(wxsim.Fault{Drop: true, Times: f.Count})
		r.timeline.span(f.String(), -1, now, now.Add(r.cfg.TimelineStep))
	case Revoke:
		for _, c := range r.creds {
			r.sim.Revoke(r.sim.Current(c.Identity))
		}
		r.timeline.span(f.String(), -1, now, now.Add(r.cfg.TimelineStep))
	case PauseHolder:
		r.armPause(f)
	case Partition:
		until := now.Add(f.For)
		for _, n := range r.nodes {
			if n.id == f.Node {
				n.store.cutUntil.Store(until.UnixNano())
			}
		}
		sleepUntil(ctx, until)
		r.timeline.span(f.String(), f.Node, now, earlier(until, time.Now()))
	case Spurious:
		r.spurious.Store(math.Float64bits(f.Rate))
		end := r.end(f.For)
		sleepUntil(ctx, end)
		r.spurious.Store(0)
		r.timeline.span(f.String(), -1, now, earlier(end, time.Now()))
	}
}

// killHolder kills the node holding the refresh lock, waiting for one to
// take it if none does yet.
func (r *run) killHolder(ctx context.Context, f Fault) {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		for _, n := range r.nodes {
			if !n.dead.Load() && n.store.holds() {
				r.kill(n, f)
				return
			}
		}
		for _, p := range r.procs {
			if !p.dead.Load() && p.holding.Load() {
				r.killProc(p, f)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// kill makes n dead as kill -9 would: the lease it holds stays in the
// store until its TTL ends, its upstream call in flight never completes,
// its workers stop.
func (r *run) kill(n *node, f Fault) {
	r.recordKill(n.id, f, func() {
		n.dead.Store(true)
		n.store.killed.Store(true)
		n.kill()
	})
}

// killProc kills a node process with SIGKILL.
func (r *run) killProc(p *proc, f Fault) {
	r.recordKill(p.id, f, func() {
		p.dead.Store(true)
		if err := p.cmd.Process.Kill(); err != nil {
			r.cfg.Logger.Error("farm: cannot kill the node process", "node", p.id, "err", err)
		}
	})
}

// recordKill notes whether node was in the middle of an upstream call,
// kills it, and counts and draws the kill.
func (r *run) recordKill(node int, f Fault, kill func()) {
	midCall := r.upstream.inflightOf(node) > 0
	kill()
	r.killMu.Lock()
	r.killed = append(r.killed, node)
	if midCall {
		r.killMidCall++
	}
	r.killMu.Unlock()
	r.timeline.span(f.String(), node, time.Now(), r.start.Add(r.cfg.Duration))
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
