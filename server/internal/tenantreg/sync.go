package tenantreg

import (
	"context"
)

// SweepPerSync is how many buckets each Sync reads beyond those whose
// revision moved, in turn: a bucket lost on its own (an evicted key)
// while the head stayed is found within Buckets/SweepPerSync syncs.
const SweepPerSync = 4

// Sync brings this instance's copy up to the store and the store up to
// this instance's copy. It reads the head (one small read), the buckets
// whose revision moved since this instance last read them, and
// SweepPerSync more in turn; a bucket that lost records this instance
// holds (missing, unparsable, or older) is repaired under the lock. With
// no head at all it reads every bucket and rebuilds the head from what it
// finds; with nothing found anywhere, it writes nothing (see HeadMissing
// and Init).
func (r *Registry) Sync(ctx context.Context) (SyncResult, error) { return r.sync(ctx, false) }

// SyncAll is Sync reading every bucket: for an instance that starts, and
// for an operator's check.
func (r *Registry) SyncAll(ctx context.Context) (SyncResult, error) { return r.sync(ctx, true) }

func (r *Registry) sync(ctx context.Context, all bool) (SyncResult, error) {
	head, found, corrupt, err := r.readHead(ctx)
	if err != nil {
		return SyncResult{}, err
	}
	if !found && corrupt == "" {
		if legacy, err := r.readLegacy(ctx); err != nil || legacy != nil {
			if err != nil {
				return SyncResult{}, err
			}
			return r.update(ctx, nil, nil) // migrates it (see mergeLegacy)
		}
	}
	var cand []int
	r.mu.Lock()
	r.recover = head.Recover
	sweep := map[int]bool{}
	for range SweepPerSync {
		sweep[r.sweep] = true
		r.sweep = (r.sweep + 1) % Buckets
	}
	for b := range Buckets {
		if all || !found || head.rev(b) != r.applied[b] || r.dirty[b] || sweep[b] {
			cand = append(cand, b)
		}
	}
	r.mu.Unlock()
	res := SyncResult{HeadMissing: !found}
	var repair []int
	for _, b := range cand {
		st, err := r.readBucket(ctx, b)
		if err != nil {
			return res, err
		}
		if r.mergeBucket(b, st, head, found, &res) {
			repair = append(repair, b)
		}
	}
	if len(repair) == 0 {
		return res, nil
	}
	fixed, err := r.update(ctx, repair, nil)
	res.add(fixed)
	return res, err
}

// SyncTenant reads the one bucket that holds id, for a request naming a
// tenant this instance does not know (another instance may have just
// added it). It repairs the bucket as Sync does.
func (r *Registry) SyncTenant(ctx context.Context, id string) (SyncResult, error) {
	head, found, _, err := r.readHead(ctx)
	if err != nil {
		return SyncResult{}, err
	}
	if !found {
		return r.Sync(ctx)
	}
	b := bucketOf(id)
	st, err := r.readBucket(ctx, b)
	if err != nil {
		return SyncResult{}, err
	}
	var res SyncResult
	if !r.mergeBucket(b, st, head, found, &res) {
		return res, nil
	}
	fixed, err := r.update(ctx, []int{b}, nil)
	res.add(fixed)
	return res, err
}

// mergeBucket takes the newer records of one stored bucket into memory
// and reports whether the store lacks something memory holds, so that the
// bucket needs a repair.
func (r *Registry) mergeBucket(b int, st stored, head headDoc, found bool, res *SyncResult) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, rec := range st.recs {
		if r.keep(id, rec) {
			res.Changed = append(res.Changed, id)
		}
	}
	now := r.now()
	for id, rec := range r.view[b] {
		if rec.expired(now) {
			delete(r.view[b], id) // kept long enough; the next write of the bucket drops it too
		}
	}
	lacks := r.dirty[b] || head.rev(b) < r.applied[b] || (st.corrupt != "" && len(r.view[b]) > 0) ||
		(!found && len(r.view[b]) > 0)
	for id, rec := range r.view[b] {
		if lacks {
			break
		}
		if s, ok := st.recs[id]; (!ok && !rec.expired(now)) || (ok && s.Rev < rec.Rev) {
			lacks = true
		}
	}
	if !lacks {
		r.applied[b] = head.rev(b)
	}
	r.headRev = max(r.headRev, head.Rev)
	r.recover = head.Recover
	return lacks
}

// Init writes an empty head if the store holds none, so that instances
// stop looking through every bucket for a registry that has no tenants:
// for a registry never written, or one lost while no instance ran. With
// recover, the head asks for the tenants to be recovered from upstream
// (RecoverPending) until RecoverDone.
func (r *Registry) Init(ctx context.Context, recover bool) (SyncResult, error) {
	return r.update(ctx, nil, func(head *headDoc) []string {
		if recover && head.Rev == 0 {
			head.Recover = true
		}
		return nil
	})
}

// RecoverPending reports whether the head this instance read last asks
// for a recovery from upstream.
func (r *Registry) RecoverPending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recover
}

// RecoverDone clears the head's request for a recovery.
func (r *Registry) RecoverDone(ctx context.Context) error {
	_, err := r.update(ctx, nil, func(head *headDoc) []string {
		head.Recover = false
		return nil
	})
	return err
}
