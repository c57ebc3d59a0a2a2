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

// Validate changes nothing and reads nothing beyond the config: a config
// without defaults is judged as it will run, and left as it was.
func TestValidateOnlyValidates(t *testing.T) {
	cfg := server.Config{InsecureNoAuth: true, Apps: []server.AppConfig{{ID: "shop", AppID: "wx1", SecretEnv: "X"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if cfg.Listen != "" || cfg.Cache != "" || cfg.Instance != "" || cfg.Apps[0].Kind != "" || cfg.Apps[0].DailyLimit != 0 {
		t.Fatalf("rule: Validate only validates; it changed the config: %+v", cfg)
	}
	d := cfg.WithDefaults()
	if d.Listen != "127.0.0.1:8080" || d.Cache != "memory://" || d.Apps[0].Kind != "official" || d.Apps[0].DailyLimit != 2000 || cfg.Apps[0].Kind != "" {
		t.Fatalf("WithDefaults = %+v (and the original's kind %q)", d, cfg.Apps[0].Kind)
	}
}
