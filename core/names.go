package core

import (
	"hash/maphash"
	"sync/atomic"
)

// nameShards is how many parts the key table is split into: registering
// a key copies one part, so registering N keys costs N²/nameShards map
// writes in all rather than N² (a service provider's 100,000 tenants).
const nameShards = 256

// names maps registered keys to their entries. Reads take no lock and
// allocate nothing; writes (under Manager.mu) copy one shard.
type names struct {
	seed   maphash.Seed
	shards [nameShards]atomic.Pointer[map[string]*entry]
}

func newNames() *names {
	n := &names{seed: maphash.MakeSeed()}
	for i := range n.shards {
		m := map[string]*entry{}
		n.shards[i].Store(&m)
	}
	return n
}

func (n *names) shard(key string) *atomic.Pointer[map[string]*entry] {
	return &n.shards[maphash.String(n.seed, key)%nameShards]
}

// get returns key's entry, or nil.
func (n *names) get(key string) *entry { return (*n.shard(key).Load())[key] }

// set registers key for e, or removes it when e is nil. Callers hold
// Manager.mu.
func (n *names) set(key string, e *entry) {
	sh := n.shard(key)
	old := *sh.Load()
	m := make(map[string]*entry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if e == nil {
		delete(m, key)
	} else {
		m[key] = e
	}
	sh.Store(&m)
}

// keys returns every registered key, in no particular order.
func (n *names) keys() []string {
	var out []string
	for i := range n.shards {
		for k := range *n.shards[i].Load() {
			out = append(out, k)
		}
	}
	return out
}
