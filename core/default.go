package core

import "sync"

var (
	defaultOnce    sync.Once
	defaultManager *Manager
)

// Default returns the process-wide Manager, created on first use with the
// default options (a MemoryCache), in the style of TNWX's ApiConfigKit.
// Programs that want their own options call New instead.
func Default() *Manager {
	defaultOnce.Do(func() { defaultManager = New() })
	return defaultManager
}

// SetCache swaps the store of the Default Manager, and its lock when the
// store is also a lock.Locker, as every wxtoken backend is:
//
//	core.SetCache(redisbackend.New(client))
func SetCache(c Cache) { Default().SetCache(c) }
