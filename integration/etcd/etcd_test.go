package etcdbackend_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	etcdbackend "github.com/wxtoken/wxtoken/backends/etcd"
	"github.com/wxtoken/wxtoken/conformance"
	"github.com/wxtoken/wxtoken/integration/containertest"
	"github.com/wxtoken/wxtoken/internal/lockwait"
	"github.com/wxtoken/wxtoken/lock"
)

// etcd expires leases in whole seconds, checked twice a second.
var opts = conformance.Options{TTLTolerance: 1200 * time.Millisecond, FarmAllowExtraFetch: true}

func newClient(t *testing.T, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func suites(t *testing.T, endpoints []string) {
	newBackend := func(t *testing.T) conformance.Backend { return etcdbackend.New(newClient(t, endpoints...)) }
	conformance.TestBackend(t, newBackend, opts)
}

func TestSingle(t *testing.T) {
	srv := containertest.Etcd(t)
	suites(t, []string{srv.Addr})
}

func TestCluster(t *testing.T) {
	members := containertest.EtcdCluster(t, 3)
	var eps []string
	for _, m := range members {
		eps = append(eps, m.Addr)
	}
	suites(t, eps)
	t.Run("LockingSurvivesMemberKill", func(t *testing.T) { lockingSurvivesKill(t, members) })
}

// lockingSurvivesKill contends for one lock from two clients that list the
// members in different orders, kills the member the first client talks to
// first, and checks that exclusion held throughout and that the lock kept
// changing hands after the kill.
func lockingSurvivesKill(t *testing.T, members []*containertest.Server) {
	a := etcdbackend.New(newClient(t, members[0].Addr, members[1].Addr, members[2].Addr))
	b := etcdbackend.New(newClient(t, members[1].Addr, members[2].Addr, members[0].Addr))
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	var holders, maxHolders atomic.Int32
	var afterKill atomic.Int64
	var killed atomic.Bool
	var wg sync.WaitGroup
	for g := range 8 {
		l := []lock.Locker{a, b}[g%2]
		wg.Go(func() {
			for ctx.Err() == nil {
				actx, acancel := context.WithTimeout(ctx, 3*time.Second)
				lease, err := lockwait.Acquire(actx, l, "wxtoken-kill-test", 5*time.Second, lockwait.WithBackoff(5*time.Millisecond, 50*time.Millisecond))
				acancel()
				if err != nil {
					continue // a request to the dead member: try again
				}
				if n := holders.Add(1); n > maxHolders.Load() {
					maxHolders.Store(n)
				}
				time.Sleep(5 * time.Millisecond)
				holders.Add(-1)
				if killed.Load() {
					afterKill.Add(1)
				}
				uctx, ucancel := context.WithTimeout(context.Background(), 3*time.Second)
				if err := lease.Unlock(uctx); err != nil && !errors.Is(err, lock.ErrLost) {
					t.Logf("unlock: %v", err)
				}
				ucancel()
			}
		})
	}
	time.Sleep(2 * time.Second)
	members[0].Kill(t)
	killed.Store(true)
	wg.Wait()
	if m := maxHolders.Load(); m > 1 {
		t.Fatalf("rule: at most one holder, also while a member dies; saw %d", m)
	}
	if n := afterKill.Load(); n < 20 {
		t.Fatalf("rule: locking goes on after the member a client talks to is killed; only %d acquisitions in 10 s", n)
	}
	t.Logf("%d acquisitions in the 10 s after the kill", afterKill.Load())
}

func TestOutage(t *testing.T) {
	srv := containertest.Etcd(t)
	conformance.TestOutage(t, func(t *testing.T) conformance.Backend {
		return etcdbackend.New(newClient(t, srv.Addr))
	}, srv.Pause, srv.Unpause)
}

func BenchmarkEtcd(b *testing.B) {
	srv := containertest.Etcd(b)
	conformance.BenchmarkBackend(b, func(b *testing.B) conformance.Backend {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cli.Close() })
		return etcdbackend.New(cli)
	})
}
