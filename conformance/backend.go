package conformance

import (
	"testing"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
)

// TestBackend runs TestCache, TestLocker, TestFence (for a backend whose
// leases fence), TestWatcher (for a backend that implements store.Watcher)
// and TestFarm on a backend, each as a subtest: all a backend author's
// test needs to call.
func TestBackend(t *testing.T, newBackend func(t *testing.T) Backend, opts ...Options) {
	t.Run("Cache", func(t *testing.T) {
		TestCache(t, func(t *testing.T) core.Cache { return newBackend(t) }, opts...)
	})
	t.Run("Locker", func(t *testing.T) {
		TestLocker(t, func(t *testing.T) lock.Locker { return newBackend(t) }, opts...)
	})
	t.Run("Fence", func(t *testing.T) {
		TestFence(t, newBackend, opts...)
	})
	t.Run("Watcher", func(t *testing.T) {
		TestWatcher(t, newBackend, opts...)
	})
	t.Run("Farm", func(t *testing.T) {
		TestFarm(t, newBackend, opts...)
	})
}
