package callback_test

import (
	"testing"

	"github.com/wxtoken/wxtoken/internal/leakcheck"
)

// TestMain fails the package if a test leaves a goroutine running: every
// Manager, server and background refresh must stop when closed.
func TestMain(m *testing.M) { leakcheck.Main(m) }
