package farm

import (
	"time"

	"github.com/wxtoken/wxtoken/wxsim"
)

// armPause makes the next credential call of any node freeze that node
// (a PauseHolder fault at its time).
func (r *run) armPause(f Fault) { r.pauseArmed.Store(&f) }

// takePause returns the armed PauseHolder fault, once: the node sending
// the call it is asked about is the one frozen.
func (r *run) takePause(path string) (Fault, bool) {
	if path == wxsim.BusinessPath || path == wxsim.ProbePath || r.pauseArmed.Load() == nil {
		return Fault{}, false
	}
	f := r.pauseArmed.Swap(nil)
	if f == nil {
		return Fault{}, false
	}
	return *f, true
}

// notePaused counts and draws node's pause from now for f.For.
func (r *run) notePaused(node int, f Fault) {
	now := time.Now()
	r.killMu.Lock()
	r.paused = append(r.paused, node)
	r.killMu.Unlock()
	r.timeline.span(f.String(), node, now, now.Add(f.For))
}

// pauseLocal freezes node n of this process for f.For: its store client
// and workers stop, and the answer to the call it just sent is held, as
// if the process were stopped.
func (r *run) pauseLocal(n *node, f Fault) time.Time {
	until := time.Now().Add(f.For)
	n.store.pausedUntil.Store(until.UnixNano())
	r.notePaused(n.id, f)
	return until
}

// pauseProc stops node process p with SIGSTOP and resumes it f.For later.
func (r *run) pauseProc(p *proc, f Fault) {
	ctl := ProcessControl{Pid: p.cmd.Process.Pid}
	if err := ctl.Pause(); err != nil {
		r.cfg.Logger.Error("farm: cannot pause the node process", "node", p.id, "err", err)
		return
	}
	r.notePaused(p.id, f)
	time.AfterFunc(f.For, func() {
		if err := ctl.Resume(); err != nil {
			r.cfg.Logger.Error("farm: cannot resume the node process", "node", p.id, "err", err)
		}
	})
}
