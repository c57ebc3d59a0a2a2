package watch

import "testing"

func TestSignalWakesTheKeysWaitersOnce(t *testing.T) {
	var h Hub
	a, removeA := h.Add("k")
	b, removeB := h.Add("k")
	other, removeOther := h.Add("other")
	h.Signal("k")
	h.Signal("k") // coalesced: a waiter holds at most one signal
	for name, c := range map[string]<-chan struct{}{"a": a, "b": b} {
		select {
		case <-c:
		default:
			t.Fatalf("waiter %s on k was not woken", name)
		}
		select {
		case <-c:
			t.Fatalf("waiter %s got two signals for a burst", name)
		default:
		}
	}
	select {
	case <-other:
		t.Fatal("a waiter on another key was woken")
	default:
	}
	removeA()
	if n := h.Len(); n != 2 {
		t.Fatalf("after one removal %d waiters left, want 2", n)
	}
	removeA()
	if n := h.Len(); n != 2 {
		t.Fatalf("a second removal of the same waiter counted again: %d left", n)
	}
	removeB()
	removeOther()
	if n := h.Len(); n != 0 {
		t.Fatalf("%d waiters left after all were removed", n)
	}
	h.Signal("k") // no waiters: nothing to do, nothing blocks
}
