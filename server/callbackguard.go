package server

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The callback route is open to anyone; upstream's signature is its only
// guard. A caller whose signatures keep failing is guessing the callback
// Token (or probing): its failures are budgeted per source address and per
// app, and once a budget is spent the route refuses that caller, or that
// app's callbacks, without looking at them until the budget refills.
// Messages that pass the signature never spend a budget. Upstream retries
// a push that is not answered "success", so a genuine push refused during
// an attack arrives again.
const (
	// sourceFailures per minute, with a burst of sourceBurst, from one
	// address.
	sourceFailures = 6
	sourceBurst    = 20
	// appFailures per minute, with a burst of appBurst, for one app from
	// all addresses together (an attacker with many addresses).
	appFailures = 60
	appBurst    = 200
	// maxSources bounds the addresses remembered; past it the fullest
	// buckets (addresses that stopped failing) are forgotten first.
	maxSources = 10_000
	// ticketRefreshEvery is the least time between two token fetches
	// started by a stored ticket (afterTicket).
	ticketRefreshEvery = 30 * time.Second
)

// failureBudget is the budget of failed signatures of one app.
type failureBudget struct {
	app     *rate.Limiter
	mu      sync.Mutex
	sources map[string]*rate.Limiter
}

func newFailureBudget() *failureBudget {
	return &failureBudget{
		app:     rate.NewLimiter(rate.Limit(appFailures)/60, appBurst),
		sources: make(map[string]*rate.Limiter),
	}
}

// exhausted reports whether callbacks from source are refused unseen now:
// its address or the app spent its budget.
func (b *failureBudget) exhausted(source string, now time.Time) bool {
	if b.app.TokensAt(now) < 1 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.sources[source]
	return l != nil && l.TokensAt(now) < 1
}

// fail spends one failure of source and of the app.
func (b *failureBudget) fail(source string, now time.Time) {
	b.app.AllowN(now, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.sources[source]
	if l == nil {
		if len(b.sources) >= maxSources {
			b.forget(now)
		}
		l = rate.NewLimiter(rate.Limit(sourceFailures)/60, sourceBurst)
		b.sources[source] = l
	}
	l.AllowN(now, 1)
}

// forget drops the addresses whose budget has refilled, or, if none has,
// half of them: a flood of addresses cannot grow the map without bound.
func (b *failureBudget) forget(now time.Time) {
	for s, l := range b.sources {
		if l.TokensAt(now) >= sourceBurst {
			delete(b.sources, s)
		}
	}
	for s := range b.sources {
		if len(b.sources) < maxSources/2 {
			break
		}
		delete(b.sources, s)
	}
}

// sourceOf is the address a request came from, without its port.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// weakCallbackToken reports whether a callback Token is too short or too
// repetitive to stand against guessing: under 16 characters, or fewer
// than 8 different ones. The consoles generate 32 random letters and
// digits; signatures can be checked offline against any captured push,
// so the route's budget alone does not protect a weak Token.
func weakCallbackToken(token string) bool {
	distinct := map[rune]bool{}
	for _, r := range token {
		distinct[r] = true
	}
	return len(token) < 16 || len(distinct) < 8
}
