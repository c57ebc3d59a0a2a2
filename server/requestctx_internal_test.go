package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// withLazyDeadline is a requestCtx bounded to start+timeout, as instrument
// and bounded make it.
func withLazyDeadline(parent context.Context, start time.Time, timeout time.Duration, cause error) (*requestCtx, func()) {
	c := &requestCtx{parent: parent, client: requestClient{start: start}}
	c.bound(timeout, cause)
	return c, c.stop
}

// A request's context without a deadline of its own is its parent's, and
// carries the request's record.
func TestRequestCtxWithoutDeadline(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	c := &requestCtx{parent: parent, client: requestClient{name: "ops"}}
	if rc, ok := c.Value(requestClientKey{}).(*requestClient); !ok || rc.name != "ops" {
		t.Fatal("the request's record is not its value")
	}
	if _, ok := c.Deadline(); ok {
		t.Error("a deadline without one")
	}
	cancel()
	<-c.Done()
	if c.Err() != context.Canceled || c.inner.Load() != nil {
		t.Errorf("err %v; no timer wanted", c.Err())
	}
}

// The lazy deadline behaves as context.WithDeadlineCause: it ends at its
// deadline with its cause, ends with its parent, carries the parent's
// values, tells the earlier deadline, and ends when stopped.
func TestLazyDeadlineIsADeadline(t *testing.T) {
	cause := errors.New("the cause")
	type key struct{}
	parent := context.WithValue(context.Background(), key{}, "v")

	ctx, stop := withLazyDeadline(parent, time.Now(), 20*time.Millisecond, cause)
	defer stop()
	if ctx.Value(key{}) != "v" {
		t.Error("the parent's value is lost")
	}
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > 20*time.Millisecond {
		t.Errorf("deadline %v %v", d, ok)
	}
	var wg sync.WaitGroup
	for range 8 { // waiters at once: one timer, no race
		wg.Go(func() { <-ctx.Done() })
	}
	wg.Wait()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || context.Cause(ctx) != cause {
		t.Errorf("after the deadline: err %v, cause %v", ctx.Err(), context.Cause(ctx))
	}
	if ctx.Value(key{}) != "v" {
		t.Error("the parent's value is lost after the deadline")
	}

	// Never waited on, the deadline long past: Err still tells it.
	ctx2, stop2 := withLazyDeadline(parent, time.Now(), time.Nanosecond, cause)
	defer stop2()
	time.Sleep(time.Millisecond)
	if !errors.Is(ctx2.Err(), context.DeadlineExceeded) || context.Cause(ctx2) != cause {
		t.Errorf("a past deadline first asked late: err %v, cause %v", ctx2.Err(), context.Cause(ctx2))
	}

	// The parent ends first.
	pctx, pcancel := context.WithCancel(parent)
	ctx3, stop3 := withLazyDeadline(pctx, time.Now(), time.Hour, cause)
	defer stop3()
	derived, dcancel := context.WithCancel(ctx3) // as the Manager's callers derive
	defer dcancel()
	pcancel()
	select {
	case <-derived.Done():
	case <-time.After(time.Second):
		t.Fatal("a context derived from it did not end with the parent")
	}
	if !errors.Is(ctx3.Err(), context.Canceled) {
		t.Errorf("after the parent ended: %v", ctx3.Err())
	}
	if d, _ := ctx3.Deadline(); time.Until(d) < 50*time.Minute {
		t.Errorf("deadline %v, want an hour ahead", d)
	}
	early, ecancel := context.WithTimeout(parent, time.Minute)
	defer ecancel()
	ctx4, stop4 := withLazyDeadline(early, time.Now(), time.Hour, cause)
	if d, _ := ctx4.Deadline(); time.Until(d) > 2*time.Minute {
		t.Errorf("deadline %v: want the parent's earlier one", d)
	}

	// Stopped: ends, whether it was waited on before or not.
	stop4()
	if ctx4.Err() == nil {
		t.Error("a stopped context not waited on before has not ended")
	}
	ctx5, stop5 := withLazyDeadline(parent, time.Now(), time.Hour, cause)
	done := ctx5.Done()
	stop5()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("a stopped context did not end")
	}
}

// A token served from memory starts no timer: the deadline's context is
// made only when waited on.
func TestLazyDeadlineStartsNothingUnwaited(t *testing.T) {
	ctx, stop := withLazyDeadline(context.Background(), time.Now(), time.Hour, nil)
	_ = ctx.Value("x")
	_, _ = ctx.Deadline()
	if ctx.inner.Load() != nil {
		t.Fatal("the eager context was made without a wait")
	}
	stop()
}
