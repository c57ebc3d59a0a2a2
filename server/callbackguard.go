package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// The callback route is open to anyone; upstream's signature is its only
// guard. An address whose callbacks keep being refused is guessing the
// callback Token or probing the crypto: once its budget is spent, its
// callbacks are refused unseen (429) until the budget refills. Upstream's
// genuine pushes are never refused, so they never spend a budget, and a
// budget is per address only: an attacker with many addresses cannot
// spend an app's budget and shut out upstream (an app's refusals are
// counted and warned about instead). Behind a reverse proxy the address
// is the sender's only with trusted_proxies set (see sourceOf).
const (
	// sourceFailures per minute, with a burst of sourceBurst, from one
	// address.
	sourceFailures = 6
	sourceBurst    = 20
	// maxSources bounds the addresses remembered; past it those whose
	// budget refilled are forgotten first.
	maxSources = 10_000
	// ticketRefreshEvery is the least time between two token fetches
	// started by a stored ticket (afterTicket).
	ticketRefreshEvery = 30 * time.Second
)

// failureBudget is the budget of failures (refused callbacks, wrong
// keys), by source address.
type failureBudget struct {
	mu      sync.Mutex
	sources map[string]*rate.Limiter
	// keepSpent: a full map never forgets an address whose budget is
	// spent; the failures of addresses it cannot hold share one budget
	// (overflowSource), which also limits those addresses. Without it, a
	// full map forgets half of what it holds, spent or not.
	keepSpent bool
	// forgotAt is when forget last ran: a full map of spent budgets is
	// scanned at most once a second, not on every failure.
	forgotAt time.Time
	// size is len(sources), read without the lock: with no failure
	// remembered, nothing is refused and nothing needs asking.
	size atomic.Int64
}

// overflowSource is the one budget of the addresses a full map with
// keepSpent cannot hold.
const overflowSource = "*"

func newFailureBudget() *failureBudget {
	return &failureBudget{sources: make(map[string]*rate.Limiter)}
}

// exhausted reports whether source's requests are refused unseen now.
func (b *failureBudget) exhausted(source string, now time.Time) bool {
	if b.empty() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.sources[source]
	if l != nil && l.TokensAt(now) >= sourceBurst {
		b.drop(source) // refilled: nothing to remember
		return false
	}
	if l == nil && b.keepSpent {
		l = b.sources[overflowSource]
	}
	return l != nil && l.TokensAt(now) < 1
}

// empty reports whether no failure is remembered, without the lock.
func (b *failureBudget) empty() bool { return b.size.Load() == 0 }

func (b *failureBudget) drop(source string) {
	delete(b.sources, source)
	b.size.Store(int64(len(b.sources)))
}

// fail spends one failure of source.
func (b *failureBudget) fail(source string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.sources[source]
	if l == nil {
		if len(b.sources) >= maxSources && (!b.keepSpent || now.Sub(b.forgotAt) >= time.Second) {
			b.forget(now)
		}
		if b.keepSpent && len(b.sources) >= maxSources {
			source = overflowSource
			l = b.sources[source]
		}
	}
	if l == nil {
		l = rate.NewLimiter(rate.Limit(sourceFailures)/60, sourceBurst)
		b.sources[source] = l
		b.size.Store(int64(len(b.sources)))
	}
	l.AllowN(now, 1)
}

// forget drops the addresses whose budget has refilled and, without
// keepSpent, if too few had, others down to half the map: a flood of
// addresses cannot grow it without bound.
func (b *failureBudget) forget(now time.Time) {
	b.forgotAt = now
	defer func() { b.size.Store(int64(len(b.sources))) }()
	for s, l := range b.sources {
		if l.TokensAt(now) >= sourceBurst {
			delete(b.sources, s)
		}
	}
	if b.keepSpent {
		return
	}
	for s := range b.sources {
		if len(b.sources) < maxSources/2 {
			break
		}
		delete(b.sources, s)
	}
}

// proxies are the reverse proxies whose X-Forwarded-For is believed.
type proxies []netip.Prefix

// parseProxies reads trusted_proxies: addresses or CIDR prefixes.
func parseProxies(list []string) (proxies, error) {
	var out proxies
	for _, p := range list {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pfx.Masked())
			continue
		}
		addr, err := netip.ParseAddr(p)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out, nil
}

func (ps proxies) trusted(a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// sourceOf is the address a request came from: the peer, or, when the
// peer is a trusted proxy, the last address in X-Forwarded-For that is
// not one (the proxies append; what comes before them the sender wrote).
func (ps proxies) sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !ps.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(hop)
		if err != nil {
			// Some proxies (Azure's Application Gateway) write
			// address:port.
			ap, perr := netip.ParseAddrPort(hop)
			if perr != nil {
				return host // a hop that is no address: go no further
			}
			a = ap.Addr()
		}
		if !ps.trusted(a) {
			return a.Unmap().String()
		}
	}
	return host
}

// senderOf is the address r came from (sourceOf), whose budgets of
// refused callbacks and wrong keys it spends; it warns, at most every
// logEvery, when requests come through a proxy that is not trusted: the
// proxy's address would be everyone's, and one sender spending the budget
// would shut out all the others.
func (s *Server) senderOf(r *http.Request, now time.Time) string {
	if len(s.proxies) == 0 && r.Header.Get("X-Forwarded-For") != "" && s.forwardedLog.allow(now) {
		s.log.Warn("wxtoken: requests arrive through a proxy; set trusted_proxies so that the budgets of refused callbacks and wrong keys are per sender, not per proxy")
	}
	return s.proxies.sourceOf(r)
}

// weakSecret reports whether a callback Token or a client key is too
// short or too repetitive to stand against guessing: under 16 characters,
// or fewer than 8 different ones. The consoles generate 32 random letters
// and digits as Tokens; signatures can be checked offline against any
// captured push, so the route's budget alone does not protect a weak
// Token, and the per-address budget of client keys only slows a guesser
// with many addresses.
func weakSecret(token string) bool {
	distinct := map[rune]bool{}
	for _, r := range token {
		distinct[r] = true
	}
	return len(token) < 16 || len(distinct) < 8
}
