package lock_test

import (
	"testing"

	"github.com/wxtoken/wxtoken/conformance"
	"github.com/wxtoken/wxtoken/lock"
)

func TestLocalConformance(t *testing.T) {
	l := lock.NewLocal() // every "client" is the same process-wide locker
	conformance.TestLocker(t, func(*testing.T) lock.Locker { return l })
}
