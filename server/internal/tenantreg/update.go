package tenantreg

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// SyncResult says what a sync or a change did.
type SyncResult struct {
	// Changed lists the tenants whose record in this instance's memory
	// changed: the caller makes what it serves match Lookup for each.
	Changed []string
	// Repaired counts the records the store lacked, held older, or held
	// in a document that did not parse, and that were re-published from
	// this instance's memory.
	Repaired int
	// HeadMissing says the store held no head document (or one that did
	// not parse) when it was read: a registry never written, or a store
	// that lost its data.
	HeadMissing bool
	// SetAside counts documents that did not parse and were copied to
	// KEY:corrupt:REVISION before being rewritten.
	SetAside int
	// Unreadable names the buckets that do not parse and that this
	// instance holds nothing to repair with: left as they are.
	Unreadable []string
}

func (res *SyncResult) add(o SyncResult) {
	res.Changed = append(res.Changed, o.Changed...)
	res.Repaired += o.Repaired
	res.HeadMissing = res.HeadMissing || o.HeadMissing
	res.SetAside += o.SetAside
	res.Unreadable = append(res.Unreadable, o.Unreadable...)
}

// allBuckets lists every bucket.
func allBuckets() []int {
	bs := make([]int, Buckets)
	for b := range bs {
		bs[b] = b
	}
	return bs
}

// settle records that memory matches the store for buckets bs, as of
// head.
func (r *Registry) settle(bs []int, head headDoc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range bs {
		r.applied[b] = head.rev(b)
		r.dirty[b] = false
	}
	r.headRev = max(r.headRev, head.Rev)
	r.recover = head.Recover
}

// change mutates the view under r.mu, given the head as read under the
// lock (whose flags it may set), and returns the tenants it changed.
type change func(head *headDoc) []string

// update takes the registry's lock, reads the head and the buckets bs,
// merges what they hold into memory (the newest record of each tenant
// wins), applies ch (if any) to memory, and writes every bucket whose
// stored records differ from memory's, then the head. A write never drops
// a record this instance holds: the store is brought up to memory, and
// memory up to the store.
func (r *Registry) update(ctx context.Context, bs []int, ch change) (SyncResult, error) {
	var res SyncResult
	err := r.locked(ctx, func(write func(key, value string) error) error {
		head, found, corruptHead, err := r.readHead(ctx)
		if err != nil {
			return err
		}
		res.HeadMissing = !found
		var legacy *legacyDoc
		if !found {
			// The head names the buckets: rebuild it from all of them, and
			// from a version 1 registry if one is there.
			bs = allBuckets()
			if legacy, err = r.readLegacy(ctx); err != nil {
				return err
			}
		}
		got := make(map[int]stored, len(bs))
		for _, b := range bs {
			if got[b], err = r.readBucket(ctx, b); err != nil {
				return err
			}
		}
		type out struct{ key, value string }
		var writes []out
		headChanged := !found
		r.mu.Lock()
		for _, b := range bs {
			for id, rec := range got[b].recs {
				if r.keep(id, rec) {
					res.Changed = append(res.Changed, id)
				}
			}
		}
		own := map[string]bool{}
		if legacy != nil {
			for _, id := range r.mergeLegacy(legacy, &head) {
				own[id] = true
				res.Changed = append(res.Changed, id)
			}
			headChanged = true
		}
		recoverFlag := head.Recover
		if ch != nil {
			for _, id := range ch(&head) {
				own[id] = true
				res.Changed = append(res.Changed, id)
			}
		}
		headChanged = headChanged || head.Recover != recoverFlag
		now := r.now()
		for _, b := range bs {
			mem := r.view[b]
			for id, rec := range mem {
				if rec.expired(now) {
					delete(mem, id)
				}
			}
			st := got[b]
			if len(mem) == 0 && st.corrupt != "" {
				// Nothing here to repair it with: left to an instance
				// that holds its tenants, or to an operator.
				res.Unreadable = append(res.Unreadable, r.bucketKey[b])
				continue
			}
			differs := st.corrupt != "" || len(st.recs) != len(mem)
			for id, rec := range mem {
				if s, ok := st.recs[id]; !ok || s.Rev != rec.Rev {
					differs = true
					if !own[id] {
						res.Repaired++
					}
				}
			}
			// The head lost a change of b, or is being rebuilt.
			stale := head.rev(b) < r.applied[b] || (!found && len(mem) > 0)
			if !differs && !stale {
				continue
			}
			head.Buckets[bucketName(b)] = r.tick(head.Rev)
			headChanged = true
			if !differs {
				continue
			}
			if st.corrupt != "" {
				writes = append(writes, out{key: fmt.Sprintf("%s:corrupt:%d", r.bucketKey[b], head.Buckets[bucketName(b)]), value: st.corrupt})
				res.SetAside++
			}
			doc, err := encode(bucketDoc{V: formatVersion, Tenants: maps.Clone(mem)})
			if err != nil {
				r.mu.Unlock()
				return err
			}
			writes = append(writes, out{key: r.bucketKey[b], value: doc})
		}
		if !headChanged {
			r.mu.Unlock()
			r.settle(bs, head)
			return nil
		}
		head.Rev = r.tick(head.Rev)
		r.mu.Unlock()
		if corruptHead != "" {
			writes = append(writes, out{key: fmt.Sprintf("%s:corrupt:%d", r.headKey, head.Rev), value: corruptHead})
			res.SetAside++
		}
		for _, w := range writes {
			if err := write(w.key, w.value); err != nil {
				return err
			}
		}
		doc, err := encode(head)
		if err != nil {
			return err
		}
		if err := write(r.headKey, doc); err != nil {
			return err
		}
		r.settle(bs, head)
		if legacy != nil {
			// Migrated: a later loss of the head must not bring back what
			// the version 1 document held then.
			return r.store.Remove(ctx, r.legacyKey)
		}
		return nil
	})
	if err != nil {
		// Memory may hold what the store lacks now: the next sync
		// repairs these buckets.
		r.mu.Lock()
		for _, b := range bs {
			r.dirty[b] = true
		}
		r.mu.Unlock()
	}
	slices.Sort(res.Changed)
	res.Changed = slices.Compact(res.Changed)
	return res, err
}
