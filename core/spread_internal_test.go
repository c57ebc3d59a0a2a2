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
	start := exp.Add(-DefaultSettings().RefreshAhead)
	window := DefaultSettings().RefreshAhead - DefaultSettings().ExpiryMargin
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

// In a cold start of many credentials, the tokens after the first
// coldBurst get a RefreshAt spread between a quarter of the lifetime and
// the refresh window; a node's first few fetches, and live tokens, none.
func TestColdStartSpreadsTheNextRefreshes(t *testing.T) {
	var c coldStart
	now := time.Now()
	var buckets [5]int
	for i := range 5000 {
		tok := Token{Value: "t", IssuedAt: now, ExpiresAt: now.Add(2 * time.Hour)}
		c.spread(&tok, DefaultSettings().RefreshAhead, DefaultSettings().ExpiryMargin)
		if i < coldBurst {
			if !tok.RefreshAt.IsZero() {
				t.Fatalf("fetch %d of a burst got a RefreshAt", i)
			}
			continue
		}
		off := tok.RefreshAt.Sub(now)
		// From 7.5 min (a sixteenth) to 110 min + 80% of the 9-minute window.
		lo, hi := 7*time.Minute+30*time.Second, 110*time.Minute+432*time.Second
		if off < lo || off > hi {
			t.Fatalf("RefreshAt %v after issue, want within [%v, %v]", off, lo, hi)
		}
		buckets[int((off-lo)*5/(hi-lo))]++
	}
	for i, b := range buckets {
		if b < 4900/5*8/10 {
			t.Fatalf("fifth %d of the span holds %d of 4900: %v", i, b, buckets)
		}
	}
	live := Token{Value: "t", IssuedAt: now, ExpiresAt: now.Add(2 * time.Hour), RenewAt: now.Add(2 * time.Hour)}
	c.spread(&live, DefaultSettings().RefreshAhead, DefaultSettings().ExpiryMargin)
	if !live.RefreshAt.IsZero() {
		t.Fatal("a live token (no new one before RenewAt) got a RefreshAt")
	}
	m := New(WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer m.Close()
	tok := Token{Value: "t", IssuedAt: now, ExpiresAt: now.Add(2 * time.Hour), RefreshAt: now.Add(40 * time.Minute)}
	if s := m.newSnapshot(tok, now); s.fresh != tok.RefreshAt.UnixNano() {
		t.Fatal("a token's RefreshAt does not end its fresh phase")
	}
	doc, _ := EncodeToken(tok)
	if back, err := DecodeToken(doc); err != nil || !back.RefreshAt.Equal(tok.RefreshAt.Truncate(time.Millisecond)) {
		t.Fatalf("refresh_at does not survive the cache document: %s, %v", doc, err)
	}
}
