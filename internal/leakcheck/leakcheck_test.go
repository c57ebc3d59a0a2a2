package leakcheck_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/leakcheck"
)

//go:noinline
func stuckInHere(release <-chan struct{}, started chan<- struct{}) {
	close(started)
	<-release
}

func TestLeakedNamesARunningGoroutineUntilItEnds(t *testing.T) {
	if leaked := leakcheck.Leaked(time.Second); len(leaked) != 0 {
		t.Fatalf("goroutines before the test: %v", leaked)
	}
	release, started := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() { stuckInHere(release, started); close(done) }()
	<-started

	leaked := leakcheck.Leaked(50 * time.Millisecond)
	if len(leaked) != 1 || !strings.Contains(leaked[0], "stuckInHere") {
		t.Fatalf("Leaked = %q, want the one goroutine blocked in stuckInHere", leaked)
	}

	close(release)
	<-done
	if leaked := leakcheck.Leaked(time.Second); len(leaked) != 0 {
		t.Fatalf("Leaked after the goroutine ended = %q, want none", leaked)
	}
}
