package core_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// UpdateState writes a credential's state under its fleet lock, as a
// fetch under the lock would, and waits for the lock no longer than the
// lock wait.
func TestUpdateStateRunsUnderTheFleetLock(t *testing.T) {
	store := core.NewMemoryCache()
	m := newManager(t, core.WithCache(store), core.WithSettings(core.Settings{LockTTL: time.Second, LockWait: 1500 * time.Millisecond}))
	src := identified{id: "state:one", SourceFunc: func(context.Context, core.FetchRequest) (core.Token, error) {
		return core.Token{}, errors.New("no fetch expected")
	}}
	register(t, m, "one", src)
	ctx := context.Background()
	key, _ := m.StateKey("one", "note")
	err := m.UpdateState(ctx, "one", func(ctx context.Context, req core.FetchRequest) error {
		if req.StatePrefix+"note" != key || req.SetState == nil {
			t.Errorf("request %+v: want the credential's state and SetState", req)
		}
		return req.SetState(ctx, key, "written", 0)
	})
	if v, _ := store.Get(ctx, key); err != nil || v != "written" {
		t.Fatalf("UpdateState: %v, stored %q", err, v)
	}
	if err := m.UpdateState(ctx, "one", func(ctx context.Context, req core.FetchRequest) error {
		return req.SetState(ctx, "elsewhere", "x", 0)
	}); err == nil {
		t.Fatal("a state key outside the credential's prefix was written")
	}
	lease, err := store.TryLock(ctx, "wxtoken:lock:{state:one}", time.Minute) // another node refreshing
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock(ctx)
	start := time.Now()
	err = m.UpdateState(ctx, "one", func(context.Context, core.FetchRequest) error {
		t.Error("ran without the lock")
		return nil
	})
	if !errors.Is(err, core.ErrLockTimeout) || time.Since(start) > 3*time.Second {
		t.Fatalf("UpdateState with the lock held elsewhere: %v after %v, want ErrLockTimeout after the lock wait", err, time.Since(start))
	}
	if err := m.UpdateState(ctx, "nobody", nil); !errors.Is(err, core.ErrUnknownKey) {
		t.Fatalf("an unknown key: %v", err)
	}
}

// identified is a SourceFunc with an identity.
type identified struct {
	id string
	core.SourceFunc
}

func (s identified) Identity() string { return s.id }
