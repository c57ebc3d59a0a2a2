package main

import (
	"testing"

	"github.com/wxtoken/wxtoken/conformance"
)

// TestConformance is all a backend author needs: every factory call
// returns a client of the same store (here, the one in-process Store).
func TestConformance(t *testing.T) {
	s := NewStore()
	conformance.TestBackend(t, func(*testing.T) conformance.Backend { return s })
}
