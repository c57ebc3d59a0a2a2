package core

import (
	"errors"
	"fmt"
	"time"
)

// maxLocalTTL bounds the local TTL: a node must notice a token another node
// replaced well within the 5 minutes upstream keeps accepting the old one.
const maxLocalTTL = time.Minute

// Settings are the tunables of a Manager, in one place: each is defined,
// defaulted and checked here, and the server reads the same struct from its
// YAML config. A zero field means its default.
//
// core.New never fails on Settings: it replaces every unworkable value by a
// working one and logs one warning per field it had to change. Validate is
// the strict form, for configs a person wrote: it refuses the same
// mistakes, naming the field and the rule. The rules:
//
//   - a negative duration or count: the default;
//   - local_ttl above one minute: one minute;
//   - expiry_margin not below refresh_ahead: half of refresh_ahead, so a
//     token always has a stale phase in which it is served while it is
//     replaced;
//   - lock_wait not above lock_ttl: lock_ttl plus a third, so a waiter
//     outlives a lock holder that died.
//
// The defaults are DefaultSettings'. The margins are upper bounds: each is
// also capped relative to the lifetime a token actually has (see the
// package documentation), so a token granted a few minutes still gets sane
// margins.
type Settings struct {
	// KeyPrefix starts every cache and lock key. Default "wxtoken".
	KeyPrefix string `yaml:"key_prefix"`
	// RefreshAhead: how long before expiry the refresh window of a token
	// opens. Each token turns stale (served, with one refresh started in
	// the background) at a point in the first 80% of the window up to the
	// expiry margin, chosen by its value: the same on every node, and
	// spread over the window for tokens fetched together. Capped at half
	// the token's lifetime. Must exceed ExpiryMargin.
	RefreshAhead time.Duration `yaml:"refresh_ahead"`
	// ExpiryMargin: how long before expiry a token is no longer served and
	// callers wait for a refresh. Capped at a tenth of the token's
	// lifetime.
	ExpiryMargin time.Duration `yaml:"expiry_margin"`
	// LocalTTL: how often at most a token in use is re-checked against the
	// shared cache, in the background; one not confirmed for twice as long
	// is re-read before it is served. At most one minute, well inside the
	// 5 minutes upstream keeps accepting a replaced token.
	LocalTTL time.Duration `yaml:"local_ttl"`
	// LockTTL: the lease of the refresh lock. The holder extends it while
	// its upstream call runs, so a dead holder is outlived after LockTTL.
	LockTTL time.Duration `yaml:"lock_ttl"`
	// LockWait: how long a node with no usable token waits for another
	// node's refresh, and how long a caller with no usable token waits out
	// an upstream outage (errcode -1, HTTP 5xx, dropped connections) before
	// it gets upstream's error. Must exceed LockTTL, so a holder that died
	// is outlived.
	LockWait time.Duration `yaml:"lock_wait"`
	// CacheTimeout bounds each call to the shared cache.
	CacheTimeout time.Duration `yaml:"cache_timeout"`
	// ErrorHold: how long a failed refresh is remembered, so a permanent
	// error (a wrong secret, the daily quota) does not become a storm. It
	// doubles with each permanent failure in a row, up to 10 minutes (or
	// ErrorHold when longer), and starts over after a success. Transient
	// errors are held for at most a second.
	ErrorHold time.Duration `yaml:"error_hold"`
	// DegradedAfter: how long store operations must have kept failing,
	// with no answer in between, before a node with nothing usable to serve
	// fetches a token without the fleet lock. Each node stretches it by up
	// to half again at random. Until then (and whenever the store answers
	// some operations: slow, not down) the node waits for the lock
	// holder's token, as long as its callers wait. Shorter means fewer
	// callers fail through a real outage; longer means fewer lock-less
	// fetches, each of which retires the fleet's token, when the store is
	// only slow.
	DegradedAfter time.Duration `yaml:"degraded_after"`
	// DegradedInterval: the least time between two fetches made without
	// the fleet lock while the shared store is unreachable.
	DegradedInterval time.Duration `yaml:"degraded_interval"`
	// FetchAttempts: how many times a transient upstream error is tried.
	FetchAttempts int `yaml:"fetch_attempts"`
	// InvalidateBudget: how many fetches reports of rejected tokens may
	// cause per credential per day (Beijing time), for the whole fleet.
	InvalidateBudget int `yaml:"invalidate_budget"`
	// VerifyInterval: after upstream confirmed a reported token alive,
	// further reports of it within this interval are answered without
	// asking again. Each further confirmation of the same token doubles
	// the interval, up to 5 minutes, so a client that keeps reporting a
	// good token costs a few probes an hour.
	VerifyInterval time.Duration `yaml:"verify_interval"`
}

// DefaultSettings returns the Settings a Manager uses when given none, the
// meaning of every zero field.
func DefaultSettings() Settings {
	return Settings{
		KeyPrefix:        "wxtoken",
		RefreshAhead:     10 * time.Minute,
		ExpiryMargin:     time.Minute,
		LocalTTL:         30 * time.Second,
		LockTTL:          30 * time.Second,
		LockWait:         40 * time.Second,
		CacheTimeout:     3 * time.Second,
		ErrorHold:        30 * time.Second,
		DegradedAfter:    10 * time.Second,
		DegradedInterval: time.Minute,
		FetchAttempts:    3,
		// Half of /cgi-bin/token's daily quota of 2000: reports of
		// rejected tokens alone can never spend the rest.
		InvalidateBudget: 1000,
		// Each further confirmation in a row doubles it, up to 5 minutes.
		VerifyInterval: time.Second,
	}
}

// durationFields lists the duration settings with their names, for the
// rules every one of them shares.
func (s *Settings) durationFields() []struct {
	name string
	v    *time.Duration
	def  time.Duration
} {
	d := DefaultSettings()
	return []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"refresh_ahead", &s.RefreshAhead, d.RefreshAhead},
		{"expiry_margin", &s.ExpiryMargin, d.ExpiryMargin},
		{"local_ttl", &s.LocalTTL, d.LocalTTL},
		{"lock_ttl", &s.LockTTL, d.LockTTL},
		{"lock_wait", &s.LockWait, d.LockWait},
		{"cache_timeout", &s.CacheTimeout, d.CacheTimeout},
		{"error_hold", &s.ErrorHold, d.ErrorHold},
		{"degraded_after", &s.DegradedAfter, d.DegradedAfter},
		{"degraded_interval", &s.DegradedInterval, d.DegradedInterval},
		{"verify_interval", &s.VerifyInterval, d.VerifyInterval},
	}
}

func (s *Settings) intFields() []struct {
	name string
	v    *int
	def  int
} {
	d := DefaultSettings()
	return []struct {
		name string
		v    *int
		def  int
	}{
		{"fetch_attempts", &s.FetchAttempts, d.FetchAttempts},
		{"invalidate_budget", &s.InvalidateBudget, d.InvalidateBudget},
	}
}

// Validate reports every setting core.New would have to change, naming the
// field and the rule (see Settings). Zero fields are fine: they mean the
// default.
func (s Settings) Validate() error {
	_, fixes := s.normalize()
	errs := make([]error, len(fixes))
	for i, f := range fixes {
		errs[i] = errors.New(f)
	}
	return errors.Join(errs...)
}

// normalize returns s with every zero field set to its default and every
// unworkable value replaced by a working one (the rules in Settings' doc),
// with one message per change that names the field, the rule and what was
// done.
func (s Settings) normalize() (Settings, []string) {
	var fixes []string
	if s.KeyPrefix == "" {
		s.KeyPrefix = DefaultSettings().KeyPrefix
	}
	for _, f := range s.durationFields() {
		switch {
		case *f.v < 0:
			fixes = append(fixes, fmt.Sprintf("%s is %v: it must not be negative (using the default, %v)", f.name, *f.v, f.def))
			*f.v = f.def
		case *f.v == 0:
			*f.v = f.def
		}
	}
	for _, f := range s.intFields() {
		switch {
		case *f.v < 0:
			fixes = append(fixes, fmt.Sprintf("%s is %d: it must not be negative (using the default, %d)", f.name, *f.v, f.def))
			*f.v = f.def
		case *f.v == 0:
			*f.v = f.def
		}
	}
	if s.LocalTTL > maxLocalTTL {
		fixes = append(fixes, fmt.Sprintf("local_ttl is %v: it must be at most %v, well inside the 5 minutes upstream keeps a replaced token (using %v)", s.LocalTTL, maxLocalTTL, maxLocalTTL))
		s.LocalTTL = maxLocalTTL
	}
	if s.ExpiryMargin >= s.RefreshAhead {
		fixed := s.RefreshAhead / 2
		fixes = append(fixes, fmt.Sprintf("refresh_ahead (%v) must be greater than expiry_margin (%v), or no token is ever served while it is replaced (using expiry_margin %v)", s.RefreshAhead, s.ExpiryMargin, fixed))
		s.ExpiryMargin = fixed
	}
	if s.LockWait <= s.LockTTL {
		fixed := s.LockTTL + s.LockTTL/3
		fixes = append(fixes, fmt.Sprintf("lock_wait (%v) must be greater than lock_ttl (%v), so a waiter outlives a lock holder that died (using lock_wait %v)", s.LockWait, s.LockTTL, fixed))
		s.LockWait = fixed
	}
	return s, fixes
}
