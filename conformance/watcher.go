package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/store"
)

// noticeWithin is how long a write may take to reach a watcher.
const noticeWithin = 2 * time.Second

// TestWatcher checks the store.Watcher contract of a backend that offers
// it: a write by another client (Set, and SetIfHeld under a fenced lease)
// wakes every watcher of the key, and stop can be called twice. It skips
// for a backend without Watch. TestBackend runs it.
func TestWatcher(t *testing.T, newBackend func(t *testing.T) Backend, opts ...Options) {
	ctx := context.Background()
	p := uniquePrefix()
	watcher := func(t *testing.T) store.Watcher {
		w, ok := newBackend(t).(store.Watcher)
		if !ok {
			t.Skip("the backend does not implement store.Watcher: waiting nodes poll it")
		}
		return w
	}
	watch := func(t *testing.T, w store.Watcher, key string) (<-chan struct{}, func()) {
		t.Helper()
		ch, stop, err := w.Watch(ctx, key)
		if err != nil {
			t.Fatalf("rule: Watch on a healthy store succeeds; got %v", err)
		}
		t.Cleanup(stop)
		return ch, stop
	}
	woken := func(t *testing.T, ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(noticeWithin):
			t.Fatalf("rule: %s wakes the key's watchers within %v; no notice came", what, noticeWithin)
		}
	}

	t.Run("SetWakesWatchers", func(t *testing.T) {
		w := watcher(t)
		a, _ := watch(t, w, p+"set")
		b, _ := watch(t, w, p+"set")
		mustSet(t, newBackend(t), p+"set", "v1", time.Minute)
		woken(t, a, "a Set by another client")
		woken(t, b, "a Set by another client")
		// A second write is noticed too: notices do not stop after one.
		mustSet(t, newBackend(t), p+"set", "v2", time.Minute)
		woken(t, a, "a second Set")
	})
	t.Run("FencedWriteWakesWatchers", func(t *testing.T) {
		w := watcher(t)
		writer := newBackend(t)
		// One hash tag, as the Manager's keys have: Redis Cluster runs a
		// fenced write only on keys of one slot.
		lease := mustLock(t, writer, p+"{fenced}lock", time.Minute)
		defer lease.Unlock(ctx)
		fl, ok := lease.(store.FencedLease)
		if !ok {
			t.Skip("the backend's leases do not fence writes")
		}
		ch, _ := watch(t, w, p+"{fenced}value")
		if err := fl.SetIfHeld(ctx, p+"{fenced}value", "v", time.Minute); err != nil {
			t.Fatalf("SetIfHeld under a live lease: %v", err)
		}
		woken(t, ch, "a fenced write (SetIfHeld)")
	})
	t.Run("StopTwice", func(t *testing.T) {
		w := watcher(t)
		_, stop := watch(t, w, p+"stop")
		stop()
		stop()
		// A watch after every other one stopped still works.
		ch, _ := watch(t, w, p+"stop")
		mustSet(t, newBackend(t), p+"stop", "v", time.Minute)
		woken(t, ch, "a Set after earlier watches stopped")
	})
}
