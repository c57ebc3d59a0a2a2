// Package leakcheck fails a test binary that leaves goroutines running
// after its tests: a Manager, lock heartbeat or HTTP server that is not
// stopped shows up here, named by the function it is stuck in.
//
// It does what go.uber.org/goleak's VerifyTestMain does, in the few lines
// this repository needs, so the root module's tests depend on nothing
// beyond the standard library and golang.org/x/sync.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// settle is how long goroutines get to finish after the tests return.
const settle = 5 * time.Second

// benign are frames of goroutines the runtime and the testing package keep.
var benign = []string{
	"testing.RunTests",
	"testing.(*T).Run",
	"testing.(*M).",
	"testing.runFuzzTests",
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.ensureSigM",
	"runtime/trace.Start",
}

// Main runs the tests, then fails the binary if goroutines other than the
// runtime's own are still running after a grace period.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := Leaked(settle); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "leakcheck: %d goroutine(s) still running after the tests:\n\n%s\n",
				len(leaked), strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// Leaked returns the stacks of goroutines still running once wait has
// passed (it returns as soon as there are none), the caller's excepted.
func Leaked(wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		leaked := others()
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(delay)
	}
}

// others returns the stacks of all goroutines but the calling one and the
// benign ones.
func others() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := strings.Split(string(buf), "\n\n")
	var out []string
	for _, s := range stacks[1:] { // the first is the caller's own
		if s = strings.TrimSpace(s); s != "" && !isBenign(s) {
			out = append(out, s)
		}
	}
	return out
}

func isBenign(stack string) bool {
	for _, f := range benign {
		if strings.Contains(stack, f) {
			return true
		}
	}
	return false
}
