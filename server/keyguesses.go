package server

import (
	"crypto/sha256"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Client keys are guessed online, through the API's bearer header or the
// status page's form, one try per request. An address that has tried
// too many different wrong keys is refused, every request that carries a
// key or signs in (429), until its budget refills: the same budget as
// refused callbacks (sourceFailures a minute, a burst of sourceBurst),
// kept apart from theirs. Refusing even the right key from that address
// is what makes it a limit: answering the right key and refusing only the
// wrong ones would still tell the guesser which is which.
//
// A key is spent once per address: a client deployed with a stale key
// and retrying it forever spends one try, not the budget, so it does not
// lock out the right keys of the other clients behind the same address
// (a NAT, a node's pods); only trying many different keys does.
const repeatWindow = 10 * time.Minute

// keyGuesses budgets the wrong client keys tried, by source address.
type keyGuesses struct {
	budget *failureBudget
	mu     sync.Mutex
	tried  map[[32]byte]time.Time // sha256(source, key digest) -> when last tried
}

func newKeyGuesses() *keyGuesses {
	b := newFailureBudget()
	b.keepSpent = true // a flood of addresses must not make the map forget a guesser
	return &keyGuesses{budget: b, tried: map[[32]byte]time.Time{}}
}

// guessSource is the budget an address spends: its own for IPv4, its /64
// for IPv6 (one host is given a whole /64, so its addresses are one
// guesser's).
func guessSource(source string) string {
	a, err := netip.ParseAddr(source)
	if err != nil || !a.Is6() || a.Is4In6() {
		return source
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// limited reports whether source's keys are refused unseen now.
func (g *keyGuesses) limited(source string, now time.Time) bool {
	return g.budget.exhausted(guessSource(source), now)
}

// wrong spends a try of source for the wrong key whose digest is given,
// unless source tried that key within repeatWindow.
func (g *keyGuesses) wrong(source string, digest [32]byte, now time.Time) {
	source = guessSource(source)
	id := sha256.Sum256(append([]byte(source+"\x00"), digest[:]...))
	g.mu.Lock()
	last, seen := g.tried[id]
	g.tried[id] = now
	if len(g.tried) > maxSources {
		for k, t := range g.tried {
			if now.Sub(t) > repeatWindow || len(g.tried) > maxSources/2 {
				delete(g.tried, k)
			}
		}
	}
	g.mu.Unlock()
	if seen && now.Sub(last) <= repeatWindow {
		return
	}
	g.budget.fail(source, now)
}

// keyResult is what checking a request's client key found.
type keyResult int

const (
	keyAbsent  keyResult = iota // no key given
	keyWrong                    // a key of no client
	keyLimited                  // not looked at: the address tried too many
	keyOK
)

// checkKey returns the client whose key was given by r, and, when none,
// why: an address past its budget is not checked at all, and a wrong key
// spends its budget.
func (s *Server) checkKey(r *http.Request, key string) (string, keyResult) {
	if key == "" {
		return "", keyAbsent
	}
	// The source (and the time) is worked out only when some address has
	// failed: a fleet of clients with their right keys pays nothing for
	// the budget.
	src, now := "", time.Time{}
	if !s.guesses.budget.empty() {
		now = time.Now()
		src = s.senderOf(r, now)
		if s.guesses.limited(src, now) {
			if s.guessLog.allow(now) {
				s.log.Warn("wxtoken: client keys refused unseen: too many wrong keys from this address", "source", src)
			}
			return "", keyLimited
		}
	}
	name := s.clients.match(key)
	if name == "" {
		if src == "" {
			now = time.Now()
			src = s.senderOf(r, now)
		}
		s.guesses.wrong(src, sha256.Sum256([]byte(key)), now)
		return "", keyWrong
	}
	return name, keyOK
}

// tooManyGuesses is the Retry-After of a refused address: the time one
// try takes to refill.
var tooManyGuesses = strconv.Itoa(60 / sourceFailures)
