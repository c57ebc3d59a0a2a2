package farm

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

// The balancer in front of the fleet. A node whose store has not answered
// for a while is out of rotation, as `wxtoken serve`'s /readyz takes an
// instance out when its ping of the store fails; its callers' business
// calls then go to the nodes in rotation. When no node is in rotation (the
// store itself is down), the balancer fails open and every node gets its
// own callers, as most balancers do when no backend passes its check.
//
// Calls routed away are not made again on another node (in --procs a node
// cannot call another process's Manager): they are counted as routed, and
// the nodes in rotation carry on at their own pace with the fleet's token.
// Config.NoBalancer keeps every caller on its node, as for the fleet built
// into processes no balancer routes around.

// spanOutOfRotation labels, in the timeline, a node's time out of rotation.
const spanOutOfRotation = "out of rotation"

// probeKey is the key a node's readiness probe reads: no one writes it, so
// a miss is an answer.
const probeKey = "wxtoken-farm-readyz-probe"

// answered reports whether err is an answer of the store (a value, a miss,
// a refused or lost lock) rather than a failure to reach it.
func answered(err error) bool {
	return err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, lock.ErrNotAcquired) || errors.Is(err, lock.ErrLost)
}

// note records the time of the store's answer, when err is one.
func (s *meteredStore) note(err error) error {
	if answered(err) {
		s.answeredAt.Store(time.Now().UnixNano())
	}
	return err
}

// rotationWindow is how long a node's store may stay silent before the
// balancer takes the node out: two store timeouts, so that one slow answer
// does not, and at least four re-check intervals.
func (c Config) rotationWindow() time.Duration {
	return max(2*c.Settings.CacheTimeout, 4*c.Settings.LocalTTL)
}

// rotation tracks one node's place in the balancer's rotation.
type rotation struct {
	out   atomic.Bool
	since time.Time // when it went out; only the node's prober touches it
}

// probe runs n's readiness check until ctx ends: every half window it
// looks at when n's store last answered, and pings it when nothing else
// has lately (an idle node, or one whose callers were routed away, still
// finds out that its store answers again). tell is called when n leaves
// or rejoins the rotation.
func (r *run) probe(ctx context.Context, n *node, tell func(in bool)) {
	window := r.cfg.rotationWindow()
	n.store.answeredAt.Store(time.Now().UnixNano()) // it starts in rotation
	every(ctx, window/2, func() {
		if time.Since(time.Unix(0, n.store.answeredAt.Load())) > window/2 {
			pctx, cancel := context.WithTimeout(ctx, r.cfg.Settings.CacheTimeout)
			_, _ = n.store.Get(pctx, probeKey)
			cancel()
		}
		in := time.Since(time.Unix(0, n.store.answeredAt.Load())) <= window
		if in == !n.rotation.out.Load() || ctx.Err() != nil {
			return
		}
		n.rotation.out.Store(!in)
		now := time.Now()
		if in {
			r.timeline.span(spanOutOfRotation, n.id, n.rotation.since, now)
		} else {
			n.rotation.since = now
		}
		if tell != nil {
			tell(in)
		}
	})
	if n.rotation.out.Load() {
		r.timeline.span(spanOutOfRotation, n.id, n.rotation.since, time.Now())
	}
}

// routedAway reports whether the balancer sends n's callers elsewhere
// right now: n is out of rotation and some node is in it.
func (r *run) routedAway(n *node) bool {
	return !r.cfg.NoBalancer && n.rotation.out.Load() && r.inRotation() > 0
}

// inRotationHere counts the nodes of this process that are started,
// alive and in rotation.
func (r *run) inRotationHere() int {
	c := 0
	for _, n := range r.nodes {
		if n.started.Load() && !n.dead.Load() && !n.rotation.out.Load() {
			c++
		}
	}
	return c
}
