package core

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// Tokens issued at the same moment (a cold start, a store that lost every
// token) turn stale at points spread over the refresh-ahead window, the
// same point on every node, and never past maxSpread of it.
func TestRefreshesOfTokensIssuedTogetherAreSpread(t *testing.T) {
	m := New(WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer m.Close()
	other := New(WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer other.Close()
	now := time.Now()
	exp := now.Add(2 * time.Hour)
	start := exp.Add(-DefaultRefreshAhead)
	window := DefaultRefreshAhead - DefaultExpiryMargin
	var buckets [10]int
	const n = 10000
	for i := range n {
		tok := Token{Value: fmt.Sprintf("token-%d", i), IssuedAt: now, ExpiresAt: exp}
		s := m.newSnapshot(tok, now)
		if s.fresh != other.newSnapshot(tok, now.Add(time.Minute)).fresh {
			t.Fatal("two nodes put one token's refresh at different points")
		}
		off := time.Duration(s.fresh - start.UnixNano())
		if off < 0 || off > time.Duration(float64(window)*maxSpread) {
			t.Fatalf("token %d turns stale %v into the window, outside [0, %v]", i, off, time.Duration(float64(window)*maxSpread))
		}
		buckets[int(float64(off)/(float64(window)*maxSpread)*10)%10]++
	}
	for i, c := range buckets {
		if c < n/10*8/10 || c > n/10*12/10 {
			t.Fatalf("tenth %d of the spread holds %d of %d refreshes: %v", i, c, n, buckets)
		}
	}
}
