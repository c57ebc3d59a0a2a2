package core

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestAnySettingsKeepTheLifecycleSound draws random settings (zero and
// negative durations included) and random lifetimes from 1 s to 7200 s,
// with and without a RenewAt, and checks what every combination must
// give: no panic in Run's scheduling, a fresh phase that never ends after
// the usable one, and a usable phase that ends at or before expiry.
func TestAnySettingsKeepTheLifecycleSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dur := func() time.Duration {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return -time.Duration(rng.Int64N(int64(time.Hour)))
		default:
			return time.Duration(rng.Int64N(int64(3 * time.Hour)))
		}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range 2000 {
		s := Settings{RefreshAhead: dur(), ExpiryMargin: dur(), LocalTTL: dur(), LockTTL: dur(), LockWait: dur(),
			CacheTimeout: dur(), ErrorHold: dur(), DegradedInterval: dur(), VerifyInterval: dur(),
			FetchAttempts: rng.IntN(7) - 3, InvalidateBudget: rng.IntN(7) - 3}
		m := New(WithSettings(s), WithLogger(logger))
		now := time.Now()
		life := time.Second + time.Duration(rng.Int64N(int64(7199*time.Second)))
		tok := Token{Value: "t", IssuedAt: now, ExpiresAt: now.Add(life)}
		if rng.IntN(2) == 0 {
			tok.RenewAt = now.Add(time.Duration(rng.Int64N(int64(life + 2*time.Second))))
		}
		for _, at := range []time.Time{now, now.Add(life / 2), now.Add(life)} {
			sn := m.newSnapshot(tok, at)
			if sn.fresh > sn.usable {
				t.Fatalf("case %d %+v, life %v, renew %v: fresh ends %v after usable", i, s, life, tok.RenewAt, time.Duration(sn.fresh-sn.usable))
			}
			if sn.usable > tok.ExpiresAt.UnixNano() {
				t.Fatalf("case %d %+v, life %v: usable past expiry", i, s, life)
			}
		}
		e := m.newEntry("k", "id", nil)
		m.byID["id"] = e
		m.running.Store(true)
		m.install(e, m.newSnapshot(tok, now)) // schedules: must not panic, whatever the settings
		m.schedule(e)
		m.running.Store(false)
		if err := m.cfg.Settings.Validate(); err != nil {
			t.Fatalf("case %d: New kept settings Validate refuses: %v", i, err)
		}
		m.Close()
	}
}

// TestValidateNamesFieldAndRule checks the strict form that configs use.
func TestValidateNamesFieldAndRule(t *testing.T) {
	for _, c := range []struct {
		s    Settings
		want string
	}{
		{Settings{RefreshAhead: 30 * time.Second}, "refresh_ahead (30s) must be greater than expiry_margin (1m0s)"},
		{Settings{LockTTL: -time.Second}, "lock_ttl is -1s: it must not be negative"},
		{Settings{LocalTTL: 10 * time.Minute}, "local_ttl is 10m0s: it must be at most 1m0s"},
		{Settings{LockTTL: time.Minute, LockWait: 30 * time.Second}, "lock_wait (30s) must be greater than lock_ttl (1m0s)"},
		{Settings{FetchAttempts: -1}, "fetch_attempts is -1: it must not be negative"},
	} {
		err := c.s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want it to say %q", c.s, err, c.want)
		}
	}
	if err := (Settings{}).Validate(); err != nil {
		t.Errorf("the zero Settings (all defaults) must validate: %v", err)
	}
}

// TestZeroLockTTLMeansTheDefault: a LockTTL of 0 was taken literally,
// every TryLock refused it, and the Manager ran degraded ("shared store
// unreachable") for good.
func TestZeroLockTTLMeansTheDefault(t *testing.T) {
	degraded := 0
	m := New(WithSettings(Settings{LockTTL: 0}), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		WithObserver(func(e Event) {
			if e.Kind == EventDegraded || e.Kind == EventCacheError {
				degraded++
			}
		}))
	defer m.Close()
	src := SourceFunc(func(context.Context, FetchRequest) (Token, error) {
		return Token{Value: "t", ExpiresAt: time.Now().Add(time.Hour)}, nil
	})
	if err := m.Register("k", src); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(context.Background(), "k"); err != nil || degraded != 0 {
		t.Fatalf("Token with LockTTL 0: %v, %d degraded or failed cache events", err, degraded)
	}
}

// TestRunWithRefreshAheadBelowMarginDoesNotPanic is the accepted config
// that crashed the server: refresh_ahead 30 s with the default 1 m margin.
func TestRunWithRefreshAheadBelowMarginDoesNotPanic(t *testing.T) {
	m := New(WithSettings(Settings{RefreshAhead: 30 * time.Second}), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer m.Close()
	now := time.Now()
	src := SourceFunc(func(context.Context, FetchRequest) (Token, error) {
		return Token{Value: "t", ExpiresAt: now.Add(7200 * time.Second)}, nil
	})
	if err := m.Register("k", src); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := m.Run(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Run = %v", err)
	}
}
