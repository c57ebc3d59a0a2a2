package tenantreg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
)

// All returns every record this instance holds, tombstones included,
// sorted by tenant id: what a backup keeps.
func (r *Registry) All() []Tenant {
	r.mu.Lock()
	var out []Tenant
	for b := range Buckets {
		for id, rec := range r.view[b] {
			out = append(out, Tenant{ID: id, Record: rec})
		}
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(x, y Tenant) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// Restored is one record to merge in: from a backup (its revision, name,
// dates and, for a live corp, the plaintext secret to seal), or recovered
// from upstream (revision 0: it gets a new one, newer than any record of
// the tenant the registry holds).
type Restored struct {
	ID     string
	Record Record // Secret is ignored: Plain is sealed here
	Plain  string
	// AuthorizedAt, for a record recovered from upstream, is when the
	// tenant authorized (Unix seconds): a tombstone from then on, found
	// under the lock, keeps it removed.
	AuthorizedAt int64
}

// Import merges records under the lock: each lands only where the
// registry holds nothing newer of its tenant (a tenant removed or
// installed again since a backup keeps its newer record), so importing
// the same backup twice changes nothing the second time. It returns how
// many records it took.
func (r *Registry) Import(ctx context.Context, recs []Restored) (int, SyncResult, error) {
	seen := map[int]bool{}
	var bs []int
	for _, x := range recs {
		if x.ID == "" || x.Record.Rev < 0 {
			return 0, SyncResult{}, fmt.Errorf("tenantreg: import: a record with no id or a negative revision (%q)", x.ID)
		}
		if b := bucketOf(x.ID); !seen[b] {
			seen[b] = true
			bs = append(bs, b)
		}
	}
	taken := 0
	res, err := r.update(ctx, bs, func(head *headDoc) []string {
		var ids []string
		for _, x := range recs {
			rec := x.Record
			if rec.Rev == 0 {
				if cur, ok := r.view[bucketOf(x.ID)][x.ID]; ok && cur.Removed() && cur.RemovedAt >= x.AuthorizedAt {
					continue // removed since it authorized
				}
				rec.Rev = r.tick(head.Rev)
			}
			rec.Secret = ""
			if x.Plain != "" && !rec.Removed() {
				rec.Secret = r.box.Seal(r.sealName(x.ID), []byte(x.Plain))
			}
			if r.keep(x.ID, rec) {
				ids = append(ids, x.ID)
				taken++
			}
		}
		return ids
	})
	return taken, res, err
}

// Reseal rewrites, under the lock, every sealed secret that the newest
// key of the ring did not seal, with a new revision so that every
// instance takes the new form. It returns how many it resealed; secrets
// that do not open with any key of the ring are named in the error and
// left as they are.
func (r *Registry) Reseal(ctx context.Context) (int, SyncResult, error) {
	n := 0
	var errs []error
	res, err := r.update(ctx, allBuckets(), func(head *headDoc) []string {
		var ids []string
		for b := range Buckets {
			for id, rec := range r.view[b] {
				if rec.Secret == "" || r.box.Current(rec.Secret) {
					continue
				}
				sealed, changed, err := r.box.Reseal(r.sealName(id), rec.Secret)
				if err != nil {
					errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
					continue
				}
				if changed {
					rec.Secret, rec.Rev = sealed, r.tick(head.Rev)
					r.keep(id, rec)
					ids = append(ids, id)
					n++
				}
			}
		}
		return ids
	})
	return n, res, errors.Join(append([]error{err}, errs...)...)
}
