package server_test

import (
	"github.com/wxtoken/wxtoken/server"
	"strings"
	"testing"
	"time"
)

// Durations in the config read as Go durations ("1.5s", "10m").
func TestYAMLDurations(t *testing.T) {
	c, err := server.ParseConfig(strings.NewReader("lock_ttl: 1.5s\nrefresh_ahead: 10m\n"))
	if err != nil || c.LockTTL != 1500*time.Millisecond || c.RefreshAhead != 10*time.Minute {
		t.Fatalf("%+v %v", c, err)
	}
}
