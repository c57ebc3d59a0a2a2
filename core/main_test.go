package core_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: every
// Manager, server and background refresh must stop when closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
