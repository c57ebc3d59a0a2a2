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

// WithSettings sets the Manager's tunables: the only way to set them, here
// and in the server's YAML, which reads the same struct. A zero field means
// its default, so a Settings literal names only what it changes:
//
//	core.New(core.WithCache(c), core.WithSettings(core.Settings{LocalTTL: 5 * time.Second}))
//
// A later WithSettings replaces an earlier one whole. See Settings for the
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

// WithObserver sets a hook that receives every Event, for metrics.
func WithObserver(f Observer) Option { return func(o *config) { o.observer = f } }
