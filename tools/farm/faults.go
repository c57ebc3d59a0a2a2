package farm

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FaultKind names a fault.
type FaultKind string

// The faults a farm injects.
const (
	// KillHolder: at At, the node holding the refresh lock (or, if none
	// does, the next one to take it) dies: its workers stop, and its store
	// client and upstream calls are cut off mid-refresh without releasing
	// anything, as kill -9 leaves them.
	KillHolder FaultKind = "kill-holder"
	// PauseStore: the store is frozen (SIGSTOP, docker pause) from At for
	// For.
	PauseStore FaultKind = "pause-store"
	// Skew: node Node's clock is off by Skew for the whole run.
	Skew FaultKind = "skew"
	// UpstreamLatency: every credential endpoint answers Latency late from
	// At for For (0: to the end).
	UpstreamLatency FaultKind = "upstream-latency"
	// UpstreamErrors: from At, the next Count credential calls answer
	// errcode -1, the Count after them HTTP 500, the Count after them drop
	// the connection.
	UpstreamErrors FaultKind = "upstream-errors"
	// Revoke: at At, upstream kills every live token of the farm, as a
	// secret reset would.
	Revoke FaultKind = "revoke"
	// Spurious: from At for For (0: to the end), each business call
	// reports its token as rejected with probability Rate, though upstream
	// accepted it.
	Spurious FaultKind = "spurious"
	// PauseHolder: from At, the first node to send a credential request
	// upstream (the lock holder, mid-refresh) is frozen for For right
	// after the request left, as a GC pause, a VM steal or a frozen
	// container would: it wakes after its lease ended, with the token
	// upstream issued meanwhile. With Procs the node process gets SIGSTOP
	// and, For later, SIGCONT; in one process the node's store client,
	// upstream answer and workers are held for For.
	PauseHolder FaultKind = "pause-holder"
	// Partition: node Node's store connections hang from At for For, as
	// with a dropped route: each operation waits until its deadline (or
	// the end of the cut, then goes through). Upstream and the other
	// nodes are unaffected.
	Partition FaultKind = "partition"
)

// Fault is one fault and when it happens.
type Fault struct {
	Kind    FaultKind
	At      time.Duration // since the traffic started
	For     time.Duration
	Node    int
	Skew    time.Duration
	Latency time.Duration
	Count   int
	Rate    float64
}

func (f Fault) String() string {
	switch f.Kind {
	case KillHolder, Revoke:
		return fmt.Sprintf("%s at %v", f.Kind, f.At)
	case PauseStore, PauseHolder:
		return fmt.Sprintf("%s %v at %v", f.Kind, f.For, f.At)
	case Partition:
		return fmt.Sprintf("%s node %d %v at %v", f.Kind, f.Node, f.For, f.At)
	case Skew:
		return fmt.Sprintf("%s node %d %+v", f.Kind, f.Node, f.Skew)
	case UpstreamLatency:
		return fmt.Sprintf("%s %v at %v for %s", f.Kind, f.Latency, f.At, forString(f.For))
	case UpstreamErrors:
		return fmt.Sprintf("%s 3x%d at %v", f.Kind, f.Count, f.At)
	case Spurious:
		return fmt.Sprintf("%s rate %g at %v for %s", f.Kind, f.Rate, f.At, forString(f.For))
	}
	return string(f.Kind)
}

func forString(d time.Duration) string {
	if d == 0 {
		return "the rest of the run"
	}
	return d.String()
}

// needsSim reports whether the fault is made by the in-process simulator.
func (f Fault) needsSim() bool {
	return f.Kind == UpstreamLatency || f.Kind == UpstreamErrors || f.Kind == Revoke
}

func (f Fault) check(c Config) error {
	switch {
	case f.At < 0 || f.At > c.Duration:
		return fmt.Errorf("farm: fault %s: its time %v is outside the run (0 to %v)", f, f.At, c.Duration)
	case f.needsSim() && c.Upstream != "":
		return fmt.Errorf("farm: fault %s needs the built-in simulator; leave out the upstream URL", f)
	case (f.Kind == Skew || f.Kind == Partition) && (f.Node < 0 || f.Node >= c.Nodes):
		return fmt.Errorf("farm: fault %s: no node %d (nodes are 0 to %d)", f, f.Node, c.Nodes-1)
	case f.Kind == PauseStore && (f.For <= 0 || c.StoreControl == nil):
		return fmt.Errorf("farm: fault %s: needs a positive duration and a store the farm can pause (a store it started, or a container)", f)
	case (f.Kind == PauseHolder || f.Kind == Partition) && f.For <= 0:
		return fmt.Errorf("farm: fault %s: needs a positive duration", f)
	case f.Kind == Partition && strings.HasPrefix(c.Cache, "memory:"):
		return fmt.Errorf("farm: fault %s: memory:// is one store in the process, shared by every node; cut a node off a real store", f)
	case f.Kind == UpstreamErrors && f.Count <= 0:
		return fmt.Errorf("farm: fault %s: the burst needs a positive count", f)
	case f.Kind == Spurious && (f.Rate <= 0 || f.Rate > 1):
		return fmt.Errorf("farm: fault %s: the rate must be in (0, 1]", f)
	case f.Kind == UpstreamLatency && f.Latency <= 0:
		return fmt.Errorf("farm: fault %s: the latency must be positive", f)
	}
	return nil
}

// ParseFault reads a fault as the command line writes it:
//
//	kill-holder       AT             30s
//	pause-store       DUR@AT         4s@30s
//	skew              NODE=±DUR      3=+60s
//	upstream-latency  DUR@AT[+FOR]   800ms@20s+10s
//	upstream-errors   COUNT@AT       5@50s
//	revoke            AT             60s
//	spurious          RATE@AT[+FOR]  0.01@10s+20s
//	pause-holder      DUR@AT         8s@20s
//	partition         NODE=DUR@AT    3=50s@30s
func ParseFault(kind FaultKind, spec string) (Fault, error) {
	f := Fault{Kind: kind}
	bad := func(format string) (Fault, error) {
		return Fault{}, fmt.Errorf("farm: --%s %q: want %s", kind, spec, format)
	}
	// at splits "VALUE@AT[+FOR]".
	at := func(s string, withFor bool) (string, bool) {
		v, rest, ok := strings.Cut(s, "@")
		if !ok {
			return "", false
		}
		a, fr, hasFor := strings.Cut(rest, "+")
		if hasFor && !withFor {
			return "", false
		}
		var err error
		if f.At, err = time.ParseDuration(a); err != nil {
			return "", false
		}
		if hasFor {
			if f.For, err = time.ParseDuration(fr); err != nil {
				return "", false
			}
		}
		return v, true
	}
	var err error
	switch kind {
	case KillHolder, Revoke:
		if f.At, err = time.ParseDuration(spec); err != nil {
			return bad("a time since the start, e.g. 30s")
		}
	case PauseStore, PauseHolder:
		v, ok := at(spec, false)
		if f.For, err = time.ParseDuration(v); !ok || err != nil {
			return bad("DUR@AT, e.g. 4s@30s")
		}
	case Partition:
		n, rest, ok := strings.Cut(spec, "=")
		if f.Node, err = strconv.Atoi(n); !ok || err != nil {
			return bad("NODE=DUR@AT, e.g. 3=50s@30s")
		}
		v, ok := at(rest, false)
		if f.For, err = time.ParseDuration(v); !ok || err != nil {
			return bad("NODE=DUR@AT, e.g. 3=50s@30s")
		}
	case Skew:
		n, d, ok := strings.Cut(spec, "=")
		if f.Node, err = strconv.Atoi(n); !ok || err != nil {
			return bad("NODE=±DUR, e.g. 3=+60s")
		}
		if f.Skew, err = time.ParseDuration(d); err != nil {
			return bad("NODE=±DUR, e.g. 3=+60s")
		}
	case UpstreamLatency:
		v, ok := at(spec, true)
		if f.Latency, err = time.ParseDuration(v); !ok || err != nil {
			return bad("DUR@AT[+FOR], e.g. 800ms@20s+10s")
		}
	case UpstreamErrors:
		v, ok := at(spec, false)
		if f.Count, err = strconv.Atoi(v); !ok || err != nil {
			return bad("COUNT@AT, e.g. 5@50s")
		}
	case Spurious:
		v, ok := at(spec, true)
		if f.Rate, err = strconv.ParseFloat(v, 64); !ok || err != nil {
			return bad("RATE@AT[+FOR], e.g. 0.01@10s+20s")
		}
	default:
		return Fault{}, fmt.Errorf("farm: unknown fault %q", kind)
	}
	return f, nil
}
