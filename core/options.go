package core

import (
	"log/slog"
	"time"

	"github.com/wxtoken/wxtoken/lock"
)

// Defaults of a Manager. The margins are upper bounds: each is also capped
// relative to the lifetime a token actually has (see the package
// documentation), so a token granted a few minutes still gets sane margins.
const (
	DefaultKeyPrefix        = "wxtoken"
	DefaultRefreshAhead     = 10 * time.Minute
	DefaultExpiryMargin     = time.Minute
	DefaultLocalTTL         = 30 * time.Second
	DefaultLockTTL          = 30 * time.Second
	DefaultLockWait         = 40 * time.Second
	DefaultCacheTimeout     = 3 * time.Second
	DefaultErrorHold        = 30 * time.Second
	DefaultDegradedInterval = time.Minute
	DefaultFetchAttempts    = 3
)

// Clock tells the time. Tests inject one to judge token states at will.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Option configures a Manager.
type Option func(*config)

type config struct {
	cache            Cache
	locker           lock.Locker
	logger           *slog.Logger
	clock            Clock
	prefix           string
	refreshAhead     time.Duration
	expiryMargin     time.Duration
	localTTL         time.Duration
	lockTTL          time.Duration
	lockWait         time.Duration
	cacheTimeout     time.Duration
	errorHold        time.Duration
	degradedInterval time.Duration
	fetchAttempts    int
	observer         Observer
}

func defaultConfig() config {
	return config{
		clock:            systemClock{},
		prefix:           DefaultKeyPrefix,
		refreshAhead:     DefaultRefreshAhead,
		expiryMargin:     DefaultExpiryMargin,
		localTTL:         DefaultLocalTTL,
		lockTTL:          DefaultLockTTL,
		lockWait:         DefaultLockWait,
		cacheTimeout:     DefaultCacheTimeout,
		errorHold:        DefaultErrorHold,
		degradedInterval: DefaultDegradedInterval,
		fetchAttempts:    DefaultFetchAttempts,
	}
}

// WithCache sets the shared store. If c also implements lock.Locker (every
// wxtoken backend does), it becomes the Manager's Locker too, unless
// WithLocker says otherwise. Default: a new MemoryCache.
func WithCache(c Cache) Option { return func(o *config) { o.cache = c } }

// WithLocker sets the fleet-wide lock, overriding the one WithCache brings.
func WithLocker(l lock.Locker) Option { return func(o *config) { o.locker = l } }

// WithLogger sets the logger. Default: slog.Default(). Log lines carry
// keys and identities, never secrets.
func WithLogger(l *slog.Logger) Option { return func(o *config) { o.logger = l } }

// WithClock sets the clock used to judge token states.
func WithClock(c Clock) Option { return func(o *config) { o.clock = c } }

// WithKeyPrefix sets the prefix of every cache and lock key. Default
// "wxtoken".
func WithKeyPrefix(p string) Option { return func(o *config) { o.prefix = p } }

// WithRefreshAhead sets how long before expiry a token counts as stale:
// served, with one refresh started in the background. Capped at half the
// token's lifetime.
func WithRefreshAhead(d time.Duration) Option { return func(o *config) { o.refreshAhead = d } }

// WithExpiryMargin sets how long before expiry a token is no longer served
// and callers wait for a refresh. Capped at a tenth of the token's
// lifetime.
func WithExpiryMargin(d time.Duration) Option { return func(o *config) { o.expiryMargin = d } }

// WithLocalTTL sets how often the in-memory copy is re-checked against the
// shared cache. Keep it well under the 5-minute overlap during which
// WeChat accepts a replaced token.
func WithLocalTTL(d time.Duration) Option { return func(o *config) { o.localTTL = d } }

// WithLockTTL sets the lease of the refresh lock. A fetch is cut off before
// its lease ends, so this is also the longest an upstream fetch may take.
func WithLockTTL(d time.Duration) Option { return func(o *config) { o.lockTTL = d } }

// WithLockWait sets how long a node waits for another node's refresh when
// it has no usable token. Keep it above the lock TTL so that a holder that
// died is outlived.
func WithLockWait(d time.Duration) Option { return func(o *config) { o.lockWait = d } }

// WithCacheTimeout bounds each call to the shared cache made in the
// background.
func WithCacheTimeout(d time.Duration) Option { return func(o *config) { o.cacheTimeout = d } }

// WithErrorHold sets how long a failed refresh is remembered: callers get
// the same error without a new upstream call, so a permanent error (a
// wrong secret, the daily quota) does not become a storm. Transient errors
// are held for at most a second.
func WithErrorHold(d time.Duration) Option { return func(o *config) { o.errorHold = d } }

// WithDegradedInterval sets the least time between two fetches made without
// the fleet lock while the shared store is unreachable.
func WithDegradedInterval(d time.Duration) Option {
	return func(o *config) { o.degradedInterval = d }
}

// WithFetchAttempts sets how many times a transient upstream error is
// tried, backoff included. Permanent errors are tried once.
func WithFetchAttempts(n int) Option { return func(o *config) { o.fetchAttempts = n } }

// WithObserver sets a hook that receives every Event, for metrics.
func WithObserver(f Observer) Option { return func(o *config) { o.observer = f } }
