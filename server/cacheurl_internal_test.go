package server

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClusterURLTakesClientOptions(t *testing.T) {
	raw := "redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002?pool_size=2&dial_timeout=3s"
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	opt, err := clusterOptions(u, strings.Split(u.Host, ","))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002"}; !slices.Equal(opt.Addrs, want) {
		t.Errorf("addrs %v, want %v", opt.Addrs, want)
	}
	if opt.PoolSize != 2 || opt.DialTimeout != 3*time.Second || opt.Password != "pw" || !opt.ContextTimeoutEnabled {
		t.Errorf("options not taken: pool %d, dial timeout %v, password set %v, context timeouts %v",
			opt.PoolSize, opt.DialTimeout, opt.Password == "pw", opt.ContextTimeoutEnabled)
	}
	if _, _, err := OpenCache("redis+cluster://:hunter2@h1:1,h2:2?no_such_option=1"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("an unknown option: %v; want an error without the password", err)
	}
}
