package etcdbackend_test

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	etcdbackend "github.com/wxtoken/wxtoken/backends/etcd"
	"github.com/wxtoken/wxtoken/conformance"
)

// TestConformance runs every suite a backend must pass (cache, locker,
// fence, watcher, farm) against the etcd TestMain started, each client of
// its own. etcd expires leases in whole seconds, checked twice a second.
// integration/ runs the same suites on a 3-member cluster.
func TestConformance(t *testing.T) {
	newBackend := func(t *testing.T) conformance.Backend {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdAddr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		return etcdbackend.New(cli)
	}
	conformance.TestBackend(t, newBackend, conformance.Options{TTLTolerance: 1200 * time.Millisecond, FarmAllowExtraFetch: true})
}
