package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/internal/beijing"
)

// maxVerifyWindow caps how long one confirmation of a token answers
// further reports of it (see verifyReport).
const maxVerifyWindow = 5 * time.Minute

// probeBudget caps the verification calls of one credential per day, fleet
// wide. WeChat allows get_api_domain_ip about 1000 calls a day; half of
// that is left for the account's own use.
const probeBudget = 500

// ledger is the fleet-wide record of one credential's upstream calls and
// invalidations for a day (Beijing time, when WeChat's quotas reset), kept
// in the shared cache under the credential's state prefix. It is read and
// written only under the fleet lock.
type ledger struct {
	Day     string `json:"day"`
	Calls   int    `json:"calls"` // upstream calls for the credential, retries included
	Probes  int    `json:"probes"`
	Fetches int    `json:"fetches"`
	// Alive names (by digest) the token upstream last confirmed alive,
	// AliveAt says when, in Unix milliseconds, and Streak how many times
	// in a row it was confirmed.
	Alive   string `json:"alive,omitempty"`
	AliveAt int64  `json:"alive_at,omitempty"`
	Streak  int    `json:"streak,omitempty"`
	// UnverifiedAt is when (Unix milliseconds) a report that could not be
	// verified last replaced the token, and UStreak how many did so in a
	// row, each within twice the window of the one before.
	UnverifiedAt int64 `json:"unverified_at,omitempty"`
	UStreak      int   `json:"ustreak,omitempty"`
}

// Reports that cannot be verified (a Source with no cheap check, upstream
// not answering the check, the day's probes spent) replace the token at
// most once per window: unverifiedBase after a quiet spell, doubled for
// each such replacement in a row, at most maxUnverifiedWindow. A client
// that keeps reporting a good suite or provider token costs a fetch every
// five minutes, not one per report; a token that really died is replaced
// at its first report after a quiet spell, and at worst a window later
// (a client reporting good tokens cannot hold a dead one longer).
const (
	unverifiedBase      = time.Minute
	maxUnverifiedWindow = 5 * time.Minute
)

// unverifiedWindow is how long after the last unverified replacement
// another is refused.
func (l ledger) unverifiedWindow() time.Duration {
	w := unverifiedBase
	for i := 1; i < l.UStreak && w < maxUnverifiedWindow; i++ {
		w *= 2
	}
	return min(w, maxUnverifiedWindow)
}

// window is how long the last confirmation answers reports of the token
// it names: the verify interval, doubled for each confirmation in a row,
// at most maxVerifyWindow. A client that keeps reporting a good token
// (one app's token sent to another app's API) costs a handful of probes
// an hour, while a token revoked after a quiet spell is checked at once.
func (l ledger) window(base time.Duration) time.Duration {
	w := base
	for i := 1; i < l.Streak && w < maxVerifyWindow; i++ {
		w *= 2
	}
	return min(w, maxVerifyWindow)
}

func (m *Manager) ledgerKey(e *entry) string { return m.statePrefix(e.id) + "invalidations" }

// readLedger returns today's ledger; a missing, corrupt or unreadable one
// counts as empty.
func (m *Manager) readLedger(ctx context.Context, e *entry, st *store, now time.Time) ledger {
	l, _ := m.loadLedger(ctx, e, st, now)
	return l
}

// loadLedger returns today's ledger (the counts of another day start
// again from zero; the last confirmation carries over), and the store's
// error when it could not be read. A missing or corrupt ledger is empty
// and no error.
func (m *Manager) loadLedger(ctx context.Context, e *entry, st *store, now time.Time) (ledger, error) {
	day := beijing.Day(now)
	var l ledger
	cctx, cancel := context.WithTimeout(ctx, m.cfg.CacheTimeout)
	defer cancel()
	raw, err := st.cache.Get(cctx, m.ledgerKey(e))
	if err == nil {
		_ = json.Unmarshal([]byte(raw), &l)
	} else if errors.Is(err, ErrNotFound) {
		err = nil
	}
	if l.Day != day {
		l = ledger{Day: day, Alive: l.Alive, AliveAt: l.AliveAt, Streak: l.Streak, UnverifiedAt: l.UnverifiedAt, UStreak: l.UStreak}
	}
	return l, err
}

func (m *Manager) writeLedger(ctx context.Context, e *entry, st *store, l ledger) {
	b, _ := json.Marshal(l)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.CacheTimeout)
	defer cancel()
	if err := st.cache.Set(cctx, m.ledgerKey(e), string(b), 48*time.Hour); err != nil {
		m.cacheFailed(e, "set ledger", err)
	}
}

func digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

// reportVerdict is what verification made of a reported token.
type reportVerdict int

const (
	reportUnknown reportVerdict = iota // not checked, or upstream could not tell
	reportAlive
	reportDead
)

// verifyReport asks upstream, through a Verifier Source, whether tok (the
// current token, reported as rejected) is really dead. A token confirmed
// alive within its window (see ledger.window) is not asked about again,
// and the probes of a day are capped: both fleet-wide, in the ledger.
// Called under the fleet lock.
func (m *Manager) verifyReport(ctx context.Context, e *entry, st *store, tok Token) reportVerdict {
	v, ok := e.src.(Verifier)
	if !ok {
		return reportUnknown
	}
	now := m.now()
	l := m.readLedger(ctx, e, st, now)
	id := digest(tok.Value)
	if l.Alive != id {
		l.Streak = 0
	}
	if l.Alive == id && now.Sub(time.UnixMilli(l.AliveAt)) < l.window(m.cfg.VerifyInterval) {
		m.spurious(e, tok)
		return reportAlive
	}
	if l.Probes >= probeBudget {
		return reportUnknown
	}
	l.Probes++
	m.writeLedger(ctx, e, st, l) // counted before the call, so a crash still counts it
	vctx, cancel := context.WithTimeout(ctx, m.cfg.LockTTL)
	alive, err := v.Verify(vctx, tok.Value)
	cancel()
	switch {
	case err != nil:
		m.cfg.logger.Warn("wxtoken: could not verify a reported token", "id", e.id, "err", err)
		return reportUnknown
	case !alive:
		return reportDead
	}
	l.Alive, l.AliveAt = id, m.now().UnixMilli()
	l.Streak++
	m.writeLedger(ctx, e, st, l)
	m.spurious(e, tok)
	return reportAlive
}

// allowUnverified decides whether a report that could not be verified may
// replace the token now (see unverifiedWindow); spendInvalidation records
// the replacement. Called under the fleet lock.
func (m *Manager) allowUnverified(ctx context.Context, e *entry, st *store, tok Token) bool {
	now := m.now()
	l := m.readLedger(ctx, e, st, now)
	w := l.unverifiedWindow()
	if l.UnverifiedAt != 0 && now.Sub(time.UnixMilli(l.UnverifiedAt)) < w {
		m.observe(EventUnverifiedHeld, e.id, 0, nil)
		m.cfg.logger.Info("wxtoken: a report that upstream cannot verify was not acted on: the token was replaced on such a report less than a window ago",
			"id", e.id, "generation", tok.Generation, "window", w.String())
		return false
	}
	return true
}

// noteUnverified records in l an unverified replacement at now.
func (l *ledger) noteUnverified(now time.Time) {
	if l.UnverifiedAt == 0 || now.Sub(time.UnixMilli(l.UnverifiedAt)) > 2*l.unverifiedWindow() {
		l.UStreak = 0
	}
	l.UnverifiedAt = now.UnixMilli()
	l.UStreak++
}

func (m *Manager) spurious(e *entry, tok Token) {
	m.observe(EventSpurious, e.id, 0, nil)
	m.cfg.logger.Info("wxtoken: a caller reported as rejected a token upstream accepts; not replacing it",
		"id", e.id, "generation", tok.Generation)
}

// countCalls adds the upstream calls of a fetch made under the fleet lock
// to the day's ledger.
func (m *Manager) countCalls(ctx context.Context, e *entry, st *store, calls int) {
	if calls == 0 {
		return
	}
	l := m.readLedger(ctx, e, st, m.now())
	l.Calls += calls
	m.writeLedger(ctx, e, st, l)
}

// CallsToday returns how many upstream calls the whole fleet made today
// (Beijing time, when WeChat's daily quotas reset) for the credential
// registered under key, as counted in the shared store by the nodes that
// held the fleet lock. Calls made while the store was unreachable are not
// in it.
func (m *Manager) CallsToday(ctx context.Context, key string) (int, error) {
	e := m.names.get(key)
	if e == nil {
		return 0, unknownKey(key)
	}
	l, err := m.loadLedger(ctx, e, m.store.Load(), m.now())
	if err != nil {
		return 0, err
	}
	return l.Calls, nil
}

// spendInvalidation counts one invalidation-driven fetch against the
// day's budget, fleet-wide, or refuses it with ErrInvalidateBudget;
// verified says whether upstream confirmed the token dead (the event is
// EventVerified, else EventUnverified). Called under the fleet lock.
func (m *Manager) spendInvalidation(ctx context.Context, e *entry, st *store, verified bool) error {
	now := m.now()
	l := m.readLedger(ctx, e, st, now)
	if l.Fetches >= m.cfg.InvalidateBudget {
		err := fmt.Errorf("%w: %d fetches today for %s", ErrInvalidateBudget, l.Fetches, e.id)
		m.observe(EventBudget, e.id, 0, err)
		m.cfg.logger.Warn("wxtoken: not replacing a reported token: the day's invalidation budget is spent", "id", e.id, "budget", m.cfg.InvalidateBudget)
		return err
	}
	l.Fetches++
	if !verified {
		l.noteUnverified(now)
	}
	m.writeLedger(ctx, e, st, l)
	if verified {
		m.observe(EventVerified, e.id, 0, nil)
	} else {
		m.observe(EventUnverified, e.id, 0, nil)
	}
	return nil
}
