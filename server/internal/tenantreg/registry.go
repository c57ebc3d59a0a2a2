package tenantreg

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/wechat"
)

// Registry is one app's tenant registry: the records in the state store
// and this instance's copy of them. It is safe for concurrent use.
type Registry struct {
	store   core.Cache
	locker  lock.Locker
	ownLock bool // the locker is the store's own, so its leases fence the store's writes
	box     *wechat.SecretBox
	now     func() time.Time

	legacyKey string // the version 1 document, also what seals are bound to
	headKey   string
	bucketKey [Buckets]string
	lockKey   string

	wmu sync.Mutex // one writer of this process at a time

	mu      sync.Mutex
	view    [Buckets]map[string]Record // newest record seen of each tenant, tombstones included
	applied [Buckets]int64             // the bucket revision in the store that view matches
	dirty   [Buckets]bool              // view holds what the store may lack
	headRev int64                      // the newest head revision seen
	clock   int64                      // the hybrid logical clock, Unix microseconds
	live    int                        // live tenants in view
	sweep   int                        // the next bucket Sync reads in turn
	recover bool                       // the head last read asks for a recovery from upstream
	pending map[string]int64           // tenant -> the revision of its change this process has yet to write
}

// localLocks serialises registry writes of one process when the store
// has no Locker of its own.
var localLocks = lock.NewLocal()

// New returns the registry of the app whose credential has identity
// (core.Manager.Identity: "suite:ww…" or "component:wx…"), in store under
// prefix (the Manager's key prefix), sealing secrets with box.
func New(store core.Cache, box *wechat.SecretBox, prefix, identity string) *Registry {
	if prefix == "" {
		prefix = core.DefaultSettings().KeyPrefix
	}
	tag := "{tenants:" + identity + "}" // one Redis Cluster slot: the lock fences every write
	r := &Registry{store: store, box: box, now: time.Now,
		pending: map[string]int64{}, legacyKey: prefix + ":" + tag, headKey: prefix + ":" + tag + ":head", lockKey: prefix + ":lock:" + tag}
	for b := range Buckets {
		r.bucketKey[b] = prefix + ":" + tag + ":b:" + bucketName(b)
		r.view[b] = map[string]Record{}
	}
	if l, ok := store.(lock.Locker); ok {
		r.locker, r.ownLock = l, true
	} else {
		r.locker = localLocks
	}
	return r
}

// HeadKey is the key of the head document, which every change writes
// last: watch it to learn of changes.
func (r *Registry) HeadKey() string { return r.headKey }

// Lookup returns this instance's record of a tenant (a tombstone for a
// removed one).
func (r *Registry) Lookup(id string) (Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.view[bucketOf(id)][id]
	return rec, ok
}

// Tenant is one live tenant, as listed.
type Tenant struct {
	ID string
	Record
}

// Tenants returns the live tenants this instance knows, sorted by id.
func (r *Registry) Tenants() []Tenant {
	r.mu.Lock()
	out := make([]Tenant, 0, r.live)
	for b := range Buckets {
		for id, rec := range r.view[b] {
			if !rec.Removed() {
				out = append(out, Tenant{ID: id, Record: rec})
			}
		}
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(x, y Tenant) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// Len returns how many live tenants this instance knows.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live
}

// sealName is what a tenant's sealed secret is bound to.
func (r *Registry) sealName(id string) string { return r.legacyKey + "#" + id }

// Open returns the plaintext secret of a tenant's record.
func (r *Registry) Open(id string, rec Record) (string, error) {
	if rec.Secret == "" {
		return "", nil
	}
	b, err := r.box.Open(r.sealName(id), rec.Secret)
	if err != nil {
		return "", fmt.Errorf("tenant %s: %w", id, err)
	}
	return string(b), nil
}

// tick advances the hybrid logical clock past seen and the wall clock,
// and returns the new revision. Callers hold r.mu.
func (r *Registry) tick(seen int64) int64 {
	r.clock = max(r.now().UnixMicro(), r.clock+1, seen+1)
	return r.clock
}

// keep makes rec the record of id in view if it is newer than the one
// held, and reports whether it was. Callers hold r.mu.
func (r *Registry) keep(id string, rec Record) bool {
	b := bucketOf(id)
	cur, ok := r.view[b][id]
	if ok && cur.Rev >= rec.Rev {
		return false
	}
	switch {
	case (!ok || cur.Removed()) && !rec.Removed():
		r.live++
	case ok && !cur.Removed() && rec.Removed():
		r.live--
	}
	r.view[b][id] = rec
	r.clock = max(r.clock, rec.Rev)
	return true
}

// ErrLocked is wrapped by a write that could not take the registry's lock
// in time.
var ErrLocked = errors.New("tenantreg: the registry lock is busy")

// lockWait bounds how long a write waits for the registry's lock: the
// holder writes two documents.
const lockWait = 10 * time.Second

// lockTTL is the registry lock's lease: long enough for the one write
// that touches every bucket, a head rebuilt after a loss (257 reads and
// as many writes).
const lockTTL = 30 * time.Second
