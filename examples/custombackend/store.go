package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

// Store is a user's own backend: one value that is both a store.Cache and a
// lock.Locker. This one keeps everything in a map, the way a first draft
// for a store of your own (a database table, a KV service) would; its test
// proves it with wxtoken's conformance suites.
type Store struct {
	mu     sync.Mutex
	values map[string]entry
	locks  map[string]entry // value: owner id
}

type entry struct {
	value   string
	expires time.Time // zero: never
}

func (e entry) live(now time.Time) bool { return e.expires.IsZero() || now.Before(e.expires) }

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{values: map[string]entry{}, locks: map[string]entry{}}
}

// Get implements store.Cache.
func (s *Store) Get(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.values[key]
	if !ok || !e.live(time.Now()) {
		return "", store.ErrNotFound
	}
	return e.value, nil
}

// Set implements store.Cache.
func (s *Store) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e := entry{value: value}
	if ttl > 0 {
		e.expires = time.Now().Add(ttl)
	}
	s.mu.Lock()
	s.values[key] = e
	s.mu.Unlock()
	return nil
}

// Remove implements store.Cache.
func (s *Store) Remove(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.values, key)
	s.mu.Unlock()
	return nil
}

// TryLock implements lock.Locker: take the lock if it is free or its lease
// ran out, with a random owner id that Extend and Unlock check.
func (s *Store) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	if err := lock.Precheck(ctx, ttl); err != nil {
		return nil, err
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	owner := hex.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if held, ok := s.locks[name]; ok && held.live(now) {
		return nil, lock.ErrNotAcquired
	}
	s.locks[name] = entry{value: owner, expires: now.Add(ttl)}
	return &lease{s: s, name: name, owner: owner}, nil
}

type lease struct {
	s     *Store
	name  string
	owner string
}

// held reports whether this lease still owns its lock; s.mu must be held.
func (l *lease) held(now time.Time) bool {
	e, ok := l.s.locks[l.name]
	return ok && e.value == l.owner && e.live(now)
}

func (l *lease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := lock.Precheck(ctx, ttl); err != nil {
		return err
	}
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	now := time.Now()
	if !l.held(now) {
		return lock.ErrLost
	}
	l.s.locks[l.name] = entry{value: l.owner, expires: now.Add(ttl)}
	return nil
}

func (l *lease) Unlock(ctx context.Context) error {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if !l.held(time.Now()) {
		return lock.ErrLost
	}
	delete(l.s.locks, l.name)
	return nil
}
