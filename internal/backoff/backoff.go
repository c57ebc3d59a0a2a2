// Package backoff computes capped exponential delays with full jitter, the
// one retry schedule shared by lock acquisition and upstream retries.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy describes a capped exponential schedule. The zero value is not
// useful; callers fill both fields.
type Policy struct {
	Min time.Duration // delay before the first retry, before jitter
	Max time.Duration // cap on any single delay
}

// Delay returns the wait before retry number attempt (0-based): a random
// duration in [d/2, d] where d = min(Max, Min*2^attempt). Half the delay is
// kept fixed so that retries never collapse to zero, half is jitter so that
// many nodes retrying together spread out.
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Min
	for i := 0; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	if d > p.Max {
		d = p.Max
	}
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Sleep waits for d or until ctx ends, whichever comes first, and reports
// ctx's error in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
