package main

import (
	"testing"

	"github.com/wxtoken/wxtoken/conformance"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
)

// TestConformance is all a backend author needs: every factory call
// returns a client of the same store (here, the one in-process Store).
func TestConformance(t *testing.T) {
	s := NewStore()
	conformance.TestCache(t, func(*testing.T) core.Cache { return s })
	conformance.TestLocker(t, func(*testing.T) lock.Locker { return s })
	conformance.TestFarm(t, func(*testing.T) conformance.Backend { return s })
}
