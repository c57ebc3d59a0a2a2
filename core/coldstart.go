package core

import (
	"math/rand/v2"
	"sync"
	"time"
)

// coldBurst is how many cold fetches (no token in the store or in memory)
// a node makes within coldWindow before it counts as a cold start of many
// credentials at once.
const (
	coldBurst  = 100
	coldWindow = time.Minute
)

// coldStart tells a node's cold start of many credentials (a new fleet, a
// store that lost every token) from the first fetch of one. Tokens
// fetched together would otherwise be refreshed together every lifetime:
// the refresh-ahead window's spread (newSnapshot) only widens that herd
// to the window. A token fetched in a cold start gets a RefreshAt drawn
// uniformly from a sixteenth of its lifetime to the end of the window's
// spread, which is about one refresh cycle: its credential is refreshed
// once early, and from then on the fleet's refreshes are spread over the
// cycle. One node's first fetches (fewer
// than coldBurst a minute) are left as they are.
type coldStart struct {
	mu    sync.Mutex
	start time.Time // of the current window
	count int       // cold fetches in it
}

// spread counts a cold fetch of tok and, in a cold start, sets its
// RefreshAt. ahead and margin are the Manager's refresh-ahead and expiry
// margin.
func (c *coldStart) spread(tok *Token, ahead, margin time.Duration) {
	c.mu.Lock()
	now := time.Now()
	if now.Sub(c.start) > coldWindow {
		c.start, c.count = now, 0
	}
	c.count++
	burst := c.count > coldBurst
	c.mu.Unlock()
	life := tok.lifetime()
	if !burst || !tok.RenewAt.IsZero() || life <= 0 {
		return
	}
	ahead, margin = min(ahead, life/2), min(margin, life/10)
	from := life / 16
	to := life - ahead + time.Duration(float64(max(ahead-margin, 0))*maxSpread)
	if to <= from {
		return
	}
	tok.RefreshAt = tok.IssuedAt.Add(from + rand.N(to-from)).Truncate(time.Millisecond)
}
