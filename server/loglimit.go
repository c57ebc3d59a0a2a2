package server

import (
	"sync/atomic"
	"time"
)

// logLimiter lets one warning through per logEvery; the rest go to debug.
// The zero value is ready.
type logLimiter struct{ last atomic.Int64 }

// logEvery is the least time between two rate-limited warnings.
const logEvery = 10 * time.Second

// allow reports whether a warning at now may be logged as one.
func (l *logLimiter) allow(now time.Time) bool {
	last := l.last.Load()
	if last != 0 && now.UnixNano()-last < int64(logEvery) {
		return false
	}
	return l.last.CompareAndSwap(last, now.UnixNano())
}
