package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// requestCtx is the context of a request instrument saw: the request's
// own record (its client, when it arrived) and, once bounded arms it, the
// request_timeout deadline. It is made in the same allocation as the rest
// of what instrument keeps, and it starts its deadline's timer only once
// someone waits on it (Done or Err): a token answered from memory never
// does, and a context with a timer per request, with the request copied
// to carry it, was a tenth of the token route's time. Deadline, Done, Err,
// Value and context.Cause answer as context.WithDeadlineCause's would.
type requestCtx struct {
	parent   context.Context
	client   requestClient
	deadline time.Time // zero: none of its own
	cause    error
	once     sync.Once
	inner    atomic.Pointer[eagerCtx]
	stopped  atomic.Bool
}

type eagerCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// ended is the context of a requestCtx first waited on after stop: the
// request is over.
var ended = func() *eagerCtx {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return &eagerCtx{ctx: ctx, cancel: cancel}
}()

// bound gives c a deadline timeout after the request arrived, ending it
// with cause; it reports false if c was waited on already (too late).
func (c *requestCtx) bound(timeout time.Duration, cause error) bool {
	if c.inner.Load() != nil {
		return false
	}
	c.deadline, c.cause = c.client.start.Add(timeout), cause
	return true
}

// eager makes (once) the context c stands for.
func (c *requestCtx) eager() context.Context {
	c.once.Do(func() {
		if c.stopped.Load() {
			c.inner.Store(ended)
			return
		}
		ctx, cancel := context.WithDeadlineCause(c.parent, c.deadline, c.cause)
		c.inner.Store(&eagerCtx{ctx: ctx, cancel: cancel})
	})
	return c.inner.Load().ctx
}

// stop ends c and releases its timer: the request was answered.
func (c *requestCtx) stop() {
	c.stopped.Store(true)
	if e := c.inner.Load(); e != nil {
		e.cancel()
	}
}

// Deadline is the earlier of the parent's and c's own.
func (c *requestCtx) Deadline() (time.Time, bool) {
	d, ok := c.parent.Deadline()
	if c.deadline.IsZero() || ok && d.Before(c.deadline) {
		return d, ok
	}
	return c.deadline, true
}

func (c *requestCtx) Done() <-chan struct{} {
	if c.deadline.IsZero() {
		return c.parent.Done()
	}
	return c.eager().Done()
}

func (c *requestCtx) Err() error {
	if c.deadline.IsZero() {
		return c.parent.Err()
	}
	return c.eager().Err()
}

// Value answers the request's record itself, and asks for the rest the
// eager context once it exists (so that context.Cause finds its cause),
// the parent before: nothing waited, nothing ended.
func (c *requestCtx) Value(key any) any {
	if key == (requestClientKey{}) {
		return &c.client
	}
	if e := c.inner.Load(); e != nil {
		return e.ctx.Value(key)
	}
	return c.parent.Value(key)
}
