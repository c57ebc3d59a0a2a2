package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wxtoken/wxtoken/lock"
)

// processLocker serialises refreshes between the Managers of one process
// when their Cache brings no Locker of its own.
var processLocker = lock.NewLocal()

// Manager keeps credentials alive for one node of a fleet: it serves them
// from memory, shares them through a Cache, and refreshes each one on a
// single node at a time. It is safe for concurrent use.
type Manager struct {
	cfg   config
	store atomic.Pointer[store]

	mu         sync.Mutex        // serialises Register
	names      *names            // key -> entry
	byID       map[string]*entry // identity -> entry
	dependents map[string]int    // key -> how many registered keys' Sources depend on it
	dependsOn  map[string]string // key -> the key its Source depends on

	flights singleflight.Group

	// slots bounds the background refreshes running at once.
	slots chan struct{}

	sched   *scheduler  // Run's
	cold    coldStart   // tells a cold start of many credentials
	runs    int         // Run calls running (under mu)
	running atomic.Bool // runs > 0: timers are armed
	// health tells an outage of the shared store from a slow answer; a
	// new one comes with every store SetCache installs.
	health atomic.Pointer[storeHealth]

	ctx    context.Context // ends at Close; parent of all background work
	cancel context.CancelFunc
	bgMu   sync.Mutex
	closed bool
	bg     sync.WaitGroup
}

// store is the shared cache and the lock that goes with it, swapped as one.
type store struct {
	cache  Cache
	locker lock.Locker
	// fenced: the locker is the cache's own, so a lease can fence a write
	// to the cache (FencedLease). A lease of another store fences nothing
	// of this one.
	fenced bool
	// state is where Sources keep state (FetchRequest.State); the cache
	// unless WithStateCache named another, and then never fenced.
	state       Cache
	stateFenced bool
}

// maxBackgroundRefreshes bounds the background refreshes of one Manager
// running at once: a node starting with a hundred thousand credentials
// adopts or fetches them this many at a time, not with a goroutine and a
// connection each. Callers that wait for a token are not held by it.
const maxBackgroundRefreshes = 64

// New returns a Manager. With no options it keeps tokens in a MemoryCache,
// which is right for a single process only. New never fails: settings that
// cannot work are replaced by working ones, with one warning log each (see
// Settings).
func New(opts ...Option) *Manager {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.clock == nil {
		cfg.clock = systemClock{}
	}
	var fixes []string
	cfg.Settings, fixes = cfg.Settings.normalize()
	for _, f := range fixes {
		cfg.logger.Warn("wxtoken: setting adjusted: " + f)
	}
	m := &Manager{cfg: cfg, byID: make(map[string]*entry), dependents: map[string]int{}, dependsOn: map[string]string{},
		slots: make(chan struct{}, maxBackgroundRefreshes), sched: newScheduler()}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.names = newNames()
	c := cfg.cache
	if c == nil {
		c = NewMemoryCache()
	}
	m.setStore(c, cfg.locker)
	return m
}

// SetCache swaps the shared store (and its Locker, if it has one and no
// WithLocker was given) of a running Manager. Tokens held in memory are
// kept and written to the new store at their next re-check.
func (m *Manager) SetCache(c Cache) { m.setStore(c, m.cfg.locker) }

func (m *Manager) setStore(c Cache, l lock.Locker) {
	fenced := false
	if l == nil {
		if cl, ok := c.(lock.Locker); ok {
			l, fenced = cl, true
		} else {
			l = processLocker
			m.cfg.logger.Warn("wxtoken: the cache has no Locker; refreshes are serialised only within this process",
				"cache", fmt.Sprintf("%T", c))
		}
	} else if cl, ok := c.(lock.Locker); ok && same(cl, l) {
		fenced = true
	}
	st := &store{cache: c, locker: l, fenced: fenced, state: c, stateFenced: fenced}
	if m.cfg.state != nil && !same(m.cfg.state, c) {
		st.state, st.stateFenced = m.cfg.state, false
	}
	m.health.Store(newStoreHealth(m.cfg.DegradedAfter, m.cfg.CacheTimeout))
	m.store.Store(st)
}

// same reports whether a and b are one value; values of a type that
// cannot be compared are not.
func same(a, b any) (eq bool) {
	defer func() {
		if recover() != nil {
			eq = false
		}
	}()
	return a == b
}

// Register makes key serve the credential src fetches. Registering a second
// key for a credential already registered (same identity) shares its token.
// A Dependent source must come after the key it depends on.
func (m *Manager) Register(key string, src Source) error {
	if key == "" {
		return errors.New("core: Register: empty key")
	}
	if src == nil {
		return fmt.Errorf("core: Register %q: nil Source", key)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names.get(key) != nil {
		return fmt.Errorf("core: Register: key %q already registered", key)
	}
	id, err := m.identity(key, src)
	if err != nil {
		return fmt.Errorf("core: Register %q: %w", key, err)
	}
	e := m.byID[id]
	if e == nil {
		e = m.newEntry(key, id, src)
		m.byID[id] = e
	}
	e.keys++
	if d, ok := src.(Dependent); ok {
		m.dependsOn[key] = d.DependsOn()
		m.dependents[d.DependsOn()]++
	}
	m.names.set(key, e)
	m.schedule(e)
	return nil
}

// Unregister removes key, as a tenant that withdrew its authorization is
// removed: Token and Invalidate then return ErrUnknownKey for it, and the
// background refresh no longer renews it. A refresh already running ends
// on its own. The shared token is left to expire in the store. It refuses
// a key another registered key depends on (unregister that one first),
// and returns ErrUnknownKey for a key never registered.
func (m *Manager) Unregister(key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.names.get(key)
	if e == nil {
		return unknownKey(key)
	}
	if n := m.dependents[key]; n > 0 {
		for k, dep := range m.dependsOn {
			if dep == key {
				return fmt.Errorf("core: Unregister %q: %q (and %d more) depends on it; unregister that first", key, k, n-1)
			}
		}
	}
	m.names.set(key, nil)
	if dep, ok := m.dependsOn[key]; ok {
		delete(m.dependsOn, key)
		if m.dependents[dep]--; m.dependents[dep] <= 0 {
			delete(m.dependents, dep)
		}
	}
	if e.keys--; e.keys == 0 {
		delete(m.byID, e.id)
		m.sched.remove(e)
	}
	return nil
}

func (m *Manager) identity(key string, src Source) (string, error) {
	switch s := src.(type) {
	case Dependent:
		dep := m.names.get(s.DependsOn())
		if dep == nil {
			return "", fmt.Errorf("depends on %q, which is not registered", s.DependsOn())
		}
		return s.Identity() + "@" + dep.id, nil
	case Identified:
		if s.Identity() == "" {
			return "", errors.New("Source has an empty identity")
		}
		return s.Identity(), nil
	default:
		return "app:" + key, nil
	}
}

// Identity returns the identity a key's credential is stored under.
func (m *Manager) Identity(key string) (string, error) {
	e, err := m.lookup(key)
	if err != nil {
		return "", err
	}
	return e.id, nil
}

// CacheKey returns the shared-cache key holding a registered key's token,
// for programs in other languages that read the same store.
func (m *Manager) CacheKey(key string) (string, error) {
	e, err := m.lookup(key)
	if err != nil {
		return "", err
	}
	return e.cacheKey, nil
}

// StateKey returns the shared-store key FetchRequest.StatePrefix + name of
// a registered key: where its Source keeps state of its own, for code that
// seeds that state before the first fetch (an Open Platform authorizer's
// first refresh token).
func (m *Manager) StateKey(key, name string) (string, error) {
	e, err := m.lookup(key)
	if err != nil {
		return "", err
	}
	return m.statePrefix(e.id) + name, nil
}

// SourceStateKey returns the key StateKey will return for src's state
// name once src is registered (under any key), for code that seeds that
// state before registering it: a new tenant's first refresh token, saved
// before any instance of the fleet serves the tenant. src must be
// Identified; a Dependent src needs the key it depends on registered.
func (m *Manager) SourceStateKey(src Source, name string) (string, error) {
	if _, ok := src.(Identified); !ok {
		return "", errors.New("core: SourceStateKey: the Source has no identity (core.Identified); register it and use StateKey")
	}
	id, err := m.identity("", src)
	if err != nil {
		return "", fmt.Errorf("core: SourceStateKey: %w", err)
	}
	return m.statePrefix(id) + name, nil
}

func (m *Manager) lookup(key string) (*entry, error) {
	if e := m.names.get(key); e != nil {
		return e, nil
	}
	return nil, unknownKey(key)
}

func unknownKey(key string) error { return fmt.Errorf("%w: %q", ErrUnknownKey, key) }

// Close stops background work, waits for refreshes in flight to finish
// (which releases their leases), and makes later calls that would need
// upstream fail with ErrClosed. Tokens already in memory are still served.
func (m *Manager) Close() error {
	m.bgMu.Lock()
	m.closed = true
	m.bgMu.Unlock()
	m.cancel()
	m.sched.clear()
	m.bg.Wait()
	return nil
}

// begin registers one unit of background work, or reports that the
// Manager is closed.
func (m *Manager) begin() bool {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.closed {
		return false
	}
	m.bg.Add(1)
	return true
}

func (m *Manager) now() time.Time { return m.cfg.clock.Now() }

func (m *Manager) observe(kind EventKind, id string, d time.Duration, err error) {
	if m.cfg.observer != nil {
		m.cfg.observer(Event{Kind: kind, ID: id, Duration: d, Err: err})
	}
}

// Cached returns the token held in memory for key, if any, without reading
// the shared cache or calling upstream: for status pages and readiness
// checks. The token may be stale or expired; judge it with Valid.
func (m *Manager) Cached(key string) (Token, bool) {
	e, err := m.lookup(key)
	if err != nil {
		return Token{}, false
	}
	s := e.snap.Load()
	if s == nil {
		return Token{}, false
	}
	return s.tok, true
}

// LastError returns the error of the key's last failed refresh while it is
// held (see Settings.ErrorHold), or nil.
func (m *Manager) LastError(key string) error {
	e, err := m.lookup(key)
	if err != nil {
		return err
	}
	return e.held(m.now())
}
