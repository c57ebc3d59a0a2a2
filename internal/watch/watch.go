// Package watch fans a store's "key written" notices out to the waiters
// of one process: the MemoryCache and the backends that implement
// core.Watcher register each waiter here and signal every write they
// learn of.
package watch

import "sync"

// Hub holds the waiters of one process by key. The zero value is ready to
// use.
type Hub struct {
	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
	n       int
}

// Add registers a waiter on key and returns its channel, which receives
// one value (coalesced) after each Signal of key, and the function that
// removes it (which may be called more than once).
func (h *Hub) Add(key string) (ch <-chan struct{}, remove func()) {
	c := make(chan struct{}, 1)
	h.mu.Lock()
	if h.waiters == nil {
		h.waiters = make(map[string]map[chan struct{}]struct{})
	}
	if h.waiters[key] == nil {
		h.waiters[key] = make(map[chan struct{}]struct{})
	}
	h.waiters[key][c] = struct{}{}
	h.n++
	h.mu.Unlock()
	var once sync.Once
	return c, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(h.waiters[key], c)
			if len(h.waiters[key]) == 0 {
				delete(h.waiters, key)
			}
			h.n--
		})
	}
}

// Len reports how many waiters are registered, on all keys.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Signal wakes every waiter on key. It never blocks: a waiter that has
// not consumed its last signal keeps just that one.
func (h *Hub) Signal(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.waiters[key] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}
