package core_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/syncbuf"
)

// A permanent error (a wrong appid) is asked again less and less often
// and logged at warn once, not at every retry: it logged a warning every
// ErrorHold (30 s) forever.
func TestPermanentErrorIsRetriedLessOftenAndLoggedOnce(t *testing.T) {
	clock := &offsetClock{}
	var logs syncbuf.Buffer
	calls := 0
	m := core.New(core.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), core.WithClock(clock))
	defer m.Close()
	refused := permanentError{errors.New("errcode 40013: invalid appid")}
	if err := m.Register("wrong", core.SourceFunc(func(context.Context, core.FetchRequest) (core.Token, error) {
		calls++
		return core.Token{}, refused
	})); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hold := core.DefaultSettings().ErrorHold
	var retries []time.Duration // when each call came, after the one before
	last := clock.Now()
	for elapsed := time.Duration(0); elapsed < time.Hour; elapsed += time.Second {
		before := calls
		m.Token(ctx, "wrong")
		if calls > before {
			retries = append(retries, clock.Now().Sub(last))
			last = clock.Now()
		}
		clock.Advance(time.Second)
	}
	if calls > 12 {
		t.Errorf("%d upstream calls in an hour for a permanent error, want at most 12 (the hold doubles from %v to 10 minutes); gaps %v", calls, hold, retries)
	}
	for i := 2; i < len(retries); i++ {
		if retries[i] < retries[i-1] && retries[i] < 10*time.Minute {
			t.Errorf("the retries did not grow: gaps %v", retries)
			break
		}
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"wxtoken: upstream fetch failed\""); n < 1 || n > 13 || n >= calls {
		t.Errorf("%d warnings for %d failed calls in an hour, want one, then at most one per 5 minutes:\n%s", n, calls, logs.String())
	}
}

// permanentError is an error upstream gives again however often asked.
type permanentError struct{ error }

func (permanentError) Transient() bool { return false }
