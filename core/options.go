package core

import (
	"log/slog"
	"time"

	"github.com/wxtoken/wxtoken/lock"
)

// Clock tells the time. Tests inject one to judge token states at will;
// a node whose clock is wrong judges by it consistently, and the fleet
// still orders tokens by generation, never by anyone's clock.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Option configures a Manager.
type Option func(*config)

type config struct {
	Settings
	cache    Cache
	locker   lock.Locker
	state    Cache
	logger   *slog.Logger
	clock    Clock
	observer Observer
}

// WithSettings sets every tunable at once; the With options for single
// settings that follow it override its fields. See Settings for the
// defaults and how unworkable values are normalised.
func WithSettings(s Settings) Option { return func(o *config) { o.Settings = s } }

// WithCache sets the shared store. If c also implements lock.Locker (every
// wxtoken backend does), it becomes the Manager's Locker too, unless
// WithLocker says otherwise. Default: a new MemoryCache.
func WithCache(c Cache) Option { return func(o *config) { o.cache = c } }

// WithLocker sets the fleet-wide lock, overriding the one WithCache brings.
func WithLocker(l lock.Locker) Option { return func(o *config) { o.locker = l } }

// WithStateCache keeps the state Sources write (FetchRequest.State and
// SetState: an authorizer's rotating refresh token, force_refresh
// bookkeeping) in c instead of the Cache: a store that does not lose data,
// when the Cache may (memcached, a Redis without persistence). The lock
// stays the Cache's, so SetState then checks the lease's known end just
// before writing rather than fencing in the store: a window of one round
// trip, as memcached's own fence has.
func WithStateCache(c Cache) Option { return func(o *config) { o.state = c } }

// WithLogger sets the logger. Default: slog.Default(). Log lines carry
// keys and identities, never secrets.
func WithLogger(l *slog.Logger) Option { return func(o *config) { o.logger = l } }

// WithClock sets the clock used to judge token states and to stamp
// fetched tokens.
func WithClock(c Clock) Option { return func(o *config) { o.clock = c } }

// WithKeyPrefix sets Settings.KeyPrefix.
func WithKeyPrefix(p string) Option { return func(o *config) { o.KeyPrefix = p } }

// WithRefreshAhead sets Settings.RefreshAhead.
func WithRefreshAhead(d time.Duration) Option { return func(o *config) { o.RefreshAhead = d } }

// WithExpiryMargin sets Settings.ExpiryMargin.
func WithExpiryMargin(d time.Duration) Option { return func(o *config) { o.ExpiryMargin = d } }

// WithLocalTTL sets Settings.LocalTTL.
func WithLocalTTL(d time.Duration) Option { return func(o *config) { o.LocalTTL = d } }

// WithLockTTL sets Settings.LockTTL.
func WithLockTTL(d time.Duration) Option { return func(o *config) { o.LockTTL = d } }

// WithLockWait sets Settings.LockWait.
func WithLockWait(d time.Duration) Option { return func(o *config) { o.LockWait = d } }

// WithCacheTimeout sets Settings.CacheTimeout.
func WithCacheTimeout(d time.Duration) Option { return func(o *config) { o.CacheTimeout = d } }

// WithErrorHold sets Settings.ErrorHold.
func WithErrorHold(d time.Duration) Option { return func(o *config) { o.ErrorHold = d } }

// WithDegradedInterval sets Settings.DegradedInterval.
func WithDegradedInterval(d time.Duration) Option {
	return func(o *config) { o.DegradedInterval = d }
}

// WithFetchAttempts sets Settings.FetchAttempts.
func WithFetchAttempts(n int) Option { return func(o *config) { o.FetchAttempts = n } }

// WithInvalidateBudget sets Settings.InvalidateBudget.
func WithInvalidateBudget(n int) Option { return func(o *config) { o.InvalidateBudget = n } }

// WithVerifyInterval sets Settings.VerifyInterval.
func WithVerifyInterval(d time.Duration) Option { return func(o *config) { o.VerifyInterval = d } }

// WithObserver sets a hook that receives every Event, for metrics.
func WithObserver(f Observer) Option { return func(o *config) { o.observer = f } }
