package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelayGrowsAndCaps(t *testing.T) {
	p := Policy{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	want := []time.Duration{10, 20, 40, 80, 80, 80}
	for attempt, w := range want {
		w *= time.Millisecond
		for range 50 {
			d := p.Delay(attempt)
			if d < w/2 || d > w {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", attempt, d, w/2, w)
			}
		}
	}
}

func TestDelayHugeAttemptDoesNotOverflow(t *testing.T) {
	p := Policy{Min: time.Millisecond, Max: time.Second}
	if d := p.Delay(1 << 20); d < 500*time.Millisecond || d > time.Second {
		t.Fatalf("Delay(huge) = %v, want within the cap", d)
	}
}

func TestSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled ctx = %v, want context.Canceled", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep did not return promptly on a cancelled ctx")
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep = %v, want nil", err)
	}
}
